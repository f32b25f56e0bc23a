"""The recording and alerting rules are valid, and their unit tests (rules_test.yml) pass."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import unavailable

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        unavailable("promtool (Debian package prometheus)", FileNotFoundError("promtool"))
    assert binary is not None
    return subprocess.run(
        [binary, *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [("check", "rules", "rules.yml"), ("test", "rules", "rules_test.yml")],
    ids=["check-rules", "test-rules"],
)
def test_promtool_accepts_the_rules(command: tuple[str, ...]) -> None:
    result = promtool(*command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout

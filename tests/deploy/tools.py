"""Where the delivery tests find the tools they drive."""

import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def dev_tool(name: str) -> str:
    """A command installed with the dev dependencies, found beside the running interpreter."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: `uv sync` installs it with the dev dependencies"
    return found


def run(
    command: list[str],
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its text output; the caller judges the result."""
    return subprocess.run(
        command,
        env=None if env is None else dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_lint_clean(command: list[str]) -> None:
    """A linter that exits 0 and prints nothing."""
    result = run(command, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""

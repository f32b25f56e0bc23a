"""`python -m bench.orders_pg_cost` measures both index layouts and pgbench's INSERT, and prints
the table. It asserts that the tool works, never what the costs were."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
# | name | median µs | runs | x pgbench |
ROW = re.compile(r"^\| (?P<name>[^|]+) \| \d+ \| (?P<runs>[\d, ]+) \| (?:[\d.]+|n/a) \|$", re.M)


def test_the_tool_prints_a_cost_for_each_layout_and_for_pgbench(postgres_available: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.orders_pg_cost", "--rounds", "2", "--orders", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    rows = {match["name"]: match["runs"].split(", ") for match in ROW.finditer(done.stdout)}
    assert set(rows) == {"orders, search index 0204", "orders, 0203", "pgbench's INSERT"}
    assert all(len(runs) == 2 for runs in rows.values())

"""`python -m bench.orders_pg_cost` measures both index layouts and pgbench's INSERT, and prints
the table. It asserts that the tool works, never what the costs were."""

import re

import pytest

from tests.bench.commands import run_bench_module

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

# | name | median µs | runs | x pgbench |
ROW = re.compile(r"^\| (?P<name>[^|]+) \| \d+ \| (?P<runs>[\d, ]+) \| (?:[\d.]+|n/a) \|$", re.M)


def test_the_tool_prints_a_cost_for_each_layout_and_for_pgbench(postgres_available: str) -> None:
    arguments = ("--rounds", "2", "--orders", "50")
    printed = run_bench_module("bench.orders_pg_cost", *arguments, timeout=110)

    rows = {match["name"]: match["runs"].split(", ") for match in ROW.finditer(printed)}
    assert set(rows) == {"orders, search index 0204", "orders, 0203", "pgbench's INSERT"}
    assert all(len(runs) == 2 for runs in rows.values())

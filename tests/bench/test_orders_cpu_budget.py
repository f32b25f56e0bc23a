"""`python -m bench.orders_cpu_budget` runs the orders scenario and pgbench in turn and prints
CPU per order by process group. It asserts that the tool works, never what the costs were."""

import pytest

from tests.bench.commands import run_bench_module

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(150)]


def test_the_tool_prints_each_process_groups_cpu_for_orders_and_for_pgbench(
    wrk: str, postgres_available: str, redis_available: str
) -> None:
    # Two rounds: a round in which a WAL fsync stalls for seconds on a busy VM places nothing.
    arguments = ("--rounds", "2", "--seconds", "2", "--warmup", "2", "--users", "20")
    printed = run_bench_module("bench.orders_cpu_budget", *arguments, timeout=140)

    # | row | orders | pgbench |, after a header and a separator line
    header, _, *rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in printed.splitlines()
        if line.startswith("|")
    ]
    assert header[1:] == ["POST /v1/orders, this tree", "pgbench's INSERT"]
    cells = {row: (orders, pgbench) for row, orders, pgbench in rows}
    for row in ("server", "server's backends", "wrk", "worker", "all", "per second"):
        assert cells[row][0], f"no {row} for the orders"
    for row in ("pgbench", "pgbench's backends", "all", "per second"):
        assert cells[row][1], f"no {row} for pgbench"
    assert float(cells["per second"][0].replace(",", "")) > 0

"""`python -m bench.orders_pg_cost`: PostgreSQL's own CPU per placed order, against pgbench's.

The orders scenario's ratio (orders/s over pgbench's tps) moves several-fold between runs on a
shared machine; the CPU a PostgreSQL backend spends per order does not. This places orders
through `PostgresOrderRepository` (the service's statement, `--batch` orders per statement, as
group commit makes them) and runs the benchmark's pgbench INSERT (one per transaction), each on
one connection, and reads each backend's CPU time from /proc/<pid>/stat (so PostgreSQL must
run on this machine). Rounds interleave the layouts and the INSERT; the medians are printed.

Two layouts of the search documents' indexes, in schemas of their own migrated here: `0204`
(the orders' partial GIN indexes with a pending list; the current head) and `0203` (before it:
`kind`-led GIN indexes without a pending list, for every kind).
"""

import argparse
import asyncio
import os
import statistics
import uuid
from datetime import UTC, datetime

import asyncpg
from alembic import command

from bench.harness import POSTGRES_DSN
from bench.seed import create_schema, drop_schema
from order_service.adapters.migrations import alembic_config
from order_service.adapters.postgres.order_repository import PostgresOrderRepository
from order_service.domain.ids import new_id
from order_service.domain.orders import LineItem, Order, OrderStatus, request_fingerprint

# The INSERT of bench/measure.py's pgbench script, into the table bench/harness.py creates.
_PGBENCH_TABLE = (
    "CREATE TABLE bench_pgbench_orders (id uuid PRIMARY KEY, customer_id uuid NOT NULL, "
    "body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)
_PGBENCH_INSERT = (
    "INSERT INTO bench_pgbench_orders (id, customer_id, body) "
    "VALUES (gen_random_uuid(), gen_random_uuid(), "
    '\'{"items": [{"sku": "SKU-001", "quantity": 1}], "region": "eu"}\')'
)
_PGBENCH = "pgbench's INSERT"
_ITEMS = (LineItem("SKU-001", 1),)
_CUSTOMERS = [uuid.uuid4() for _ in range(1000)]  # as many as `--users 1000` seeds


def _order(number: int) -> Order:
    """An order as `place_order` makes it for bench/order-body.json."""
    now = datetime.now(UTC)
    return Order(
        id=new_id(),
        customer_id=_CUSTOMERS[number % len(_CUSTOMERS)],
        items=_ITEMS,
        region="eu",
        idempotency_key=uuid.uuid4().hex,
        fingerprint=request_fingerprint(_ITEMS, "eu"),
        status=OrderStatus.ACCEPTED,
        created_at=now,
        updated_at=now,
    )


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()  # noqa: PTH123, SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(schemas: dict[str, str], rounds: int, orders: int, batch: int) -> None:
    results: dict[str, list[float]] = {name: [] for name in [*schemas, _PGBENCH]}
    pools = {
        name: await asyncpg.create_pool(
            POSTGRES_DSN, min_size=1, max_size=1, server_settings={"search_path": schema}
        )
        for name, schema in schemas.items()
    }
    any_pool = next(iter(pools.values()))
    try:
        await any_pool.execute(_PGBENCH_TABLE)
        for _ in range(rounds):
            for name, pool in pools.items():
                results[name].append(await _place(pool, orders, batch))
            results[_PGBENCH].append(await _insert(any_pool, orders))
    finally:
        for pool in pools.values():
            await pool.close()
    pgbench = statistics.median(results[_PGBENCH])
    print(f"| PostgreSQL backend CPU | µs per order (median of {rounds}) | runs | x pgbench |")  # noqa: T201
    print("|---|---:|---|---:|")  # noqa: T201
    for name, runs in results.items():
        median = statistics.median(runs)
        shown = ", ".join(f"{run:.0f}" for run in runs)
        ratio = f"{median / pgbench:.2f}" if pgbench else "n/a"  # under a clock tick: too few
        print(f"| {name} | {median:.0f} | {shown} | {ratio} |")  # noqa: T201


async def _place(pool: asyncpg.Pool, orders: int, batch: int) -> float:
    """Backend µs per order placed in statements of `batch` orders."""
    repository = PostgresOrderRepository(pool, timeout=30, max_writers=1)
    pid = await pool.fetchval("SELECT pg_backend_pid()")
    before = _cpu_seconds(pid)
    for start in range(0, orders, batch):
        # Adds started together queue behind the one writer: one statement for the batch.
        await asyncio.gather(*(repository.add(_order(start + n)) for n in range(batch)))
    return (_cpu_seconds(pid) - before) * 1e6 / orders


async def _insert(pool: asyncpg.Pool, orders: int) -> float:
    """Backend µs per pgbench INSERT, one per transaction."""
    pid = await pool.fetchval("SELECT pg_backend_pid()")
    before = _cpu_seconds(pid)
    for _ in range(orders):
        await pool.execute(_PGBENCH_INSERT)
    return (_cpu_seconds(pid) - before) * 1e6 / orders


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.orders_pg_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--orders", type=int, default=2000, help="orders per layout and round")
    parser.add_argument("--batch", type=int, default=25, help="orders per statement")
    args = parser.parse_args()
    token = uuid.uuid4().hex[:10]
    schemas = {"orders, search index 0204": f"bench_{token}_a", "orders, 0203": f"bench_{token}_b"}
    for schema in schemas.values():
        create_schema(POSTGRES_DSN, schema)
    try:
        command.downgrade(alembic_config(POSTGRES_DSN, schemas["orders, 0203"]), "0203")
        asyncio.run(_measure(schemas, args.rounds, args.orders, args.batch))
    finally:
        for schema in schemas.values():
            drop_schema(POSTGRES_DSN, schema)


if __name__ == "__main__":
    main()

"""The order statements' cached plans find rows by index even when they were planned while the
tables were empty: a plan cached then is kept for as long as the connection lives (until the
table is analysed), and a sequential scan of `orders` or `order_outbox` in every batch or claim
costs more with every order placed."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from order_service.adapters.postgres.order_outbox import _CLAIM
from order_service.adapters.postgres.order_repository import _PLACE, _columns, _Placement
from tests.conftest import PostgresSchema
from tests.fakes.orders import accepted_order

pytestmark = pytest.mark.postgres


@pytest.fixture
async def connection(postgres_schema: PostgresSchema) -> AsyncIterator[asyncpg.Connection]:
    """A connection on the fresh, never analysed schema that always plans generically, as a
    cached prepared statement runs after its first executions."""
    connection = await asyncpg.connect(
        postgres_schema.dsn,
        server_settings={
            "search_path": postgres_schema.schema,
            "plan_cache_mode": "force_generic_plan",
        },
    )
    try:
        yield connection
    finally:
        await connection.close()


async def _plan(connection: asyncpg.Connection, statement: str, *arguments: object) -> str:
    rows = await connection.fetch(f"EXPLAIN (COSTS OFF) {statement}", *arguments)
    return "\n".join(row[0] for row in rows)


async def test_placing_a_batch_never_scans_the_orders_table(
    connection: asyncpg.Connection,
) -> None:
    orders = [accepted_order() for _ in range(3)]
    first = {(order.customer_id, order.idempotency_key): order for order in orders}
    placements = [_Placement(order, None, None) for order in orders]  # type: ignore[arg-type]

    plan = await _plan(connection, _PLACE, *_columns(placements, first))

    assert "Seq Scan on orders" not in plan, plan
    # The earlier order of a key is looked up only for the orders not placed.
    assert "One-Time Filter: (placed.id IS NULL)" in plan, plan


async def test_claiming_scans_neither_the_outbox_nor_the_orders_wholesale(
    connection: asyncpg.Connection,
) -> None:
    plan = await _plan(connection, _CLAIM, 16, 30.0, uuid.uuid4())

    assert "Seq Scan" not in plan, plan

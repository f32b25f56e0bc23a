"""Group commit of placed orders on PostgreSQL: orders queued while a batch is written go into
the next batch, one statement; a failed batch fails each of its orders and writes none."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest

from order_service.adapters.postgres.database import open_postgres_pool
from order_service.adapters.postgres.order_outbox import PostgresOrderOutbox
from order_service.adapters.postgres.order_repository import PostgresOrderRepository
from order_service.application.deadline import DeadlineExceeded, deadline_after
from order_service.domain.errors import Unavailable
from order_service.domain.ids import new_id
from order_service.domain.orders import Order
from tests.conftest import PostgresSchema
from tests.fakes.orders import accepted_order

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pool(postgres_schema: PostgresSchema) -> AsyncIterator[asyncpg.Pool]:
    async with open_postgres_pool(
        postgres_schema.dsn, schema=postgres_schema.schema, min_size=2, max_size=2, timeout=5
    ) as pool:
        yield pool


async def _queued_behind(
    pool: asyncpg.Pool, repository: PostgresOrderRepository, orders: list[Order]
) -> list[object]:
    """Add `orders` concurrently while the pool's connections are held, so that they all queue
    for one writer, then let them go: the writer takes every queued order into one batch."""
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    adds = [asyncio.ensure_future(repository.add(order)) for order in orders]
    try:
        await _settle()
    finally:
        for connection in held:
            await pool.release(connection)
    return list(await asyncio.gather(*adds, return_exceptions=True))


async def _settle() -> None:
    """Let every started add run to its first wait: each queues its order, the one writer
    waits for a connection and the others for their outcome. Nothing here sleeps on a clock;
    each yield runs the tasks that are ready."""
    for _ in range(3):
        await asyncio.sleep(0)


async def _transactions(pool: asyncpg.Pool) -> int:
    """How many transactions wrote the orders table: a batch is one statement, so one each."""
    return int(await pool.fetchval("SELECT count(DISTINCT xmin::text) FROM orders"))


async def test_orders_queued_behind_a_busy_writer_are_written_in_one_statement(
    pool: asyncpg.Pool,
) -> None:
    repository = PostgresOrderRepository(pool, timeout=5, max_writers=1)
    orders = [accepted_order() for _ in range(12)]

    results = await _queued_behind(pool, repository, orders)

    assert results == orders
    assert await _transactions(pool) == 1
    claims = await PostgresOrderOutbox(pool, timeout=5).claim(limit=100, lease_seconds=30)
    assert sorted(c.order.id for c in claims) == sorted(o.id for o in orders)


async def test_a_key_twice_in_one_batch_is_placed_once_and_both_get_that_order(
    pool: asyncpg.Pool,
) -> None:
    repository = PostgresOrderRepository(pool, timeout=5, max_writers=1)
    first = accepted_order()
    retry = replace(first, id=new_id())  # the same customer, key and body

    results = await _queued_behind(pool, repository, [first, retry])

    assert results == [first, first]
    assert await repository.get(retry.id) is None


async def test_a_failed_batch_fails_each_order_and_writes_none(pool: asyncpg.Pool) -> None:
    repository = PostgresOrderRepository(pool, timeout=5, max_writers=1)
    existing = accepted_order()
    await repository.add(existing)
    # The same primary key under another customer and key: the whole statement fails.
    clash = accepted_order(id=existing.id)
    innocent = [accepted_order() for _ in range(3)]

    results = await _queued_behind(pool, repository, [*innocent, clash])

    assert all(isinstance(r, Unavailable) for r in results), results
    for order in innocent:
        assert await repository.get(order.id) is None
    # The repository recovers: the next order is written.
    later = accepted_order()
    assert await repository.add(later) == later


async def test_an_order_whose_deadline_passes_in_the_queue_is_withdrawn_unwritten(
    pool: asyncpg.Pool,
) -> None:
    repository = PostgresOrderRepository(pool, timeout=5, max_writers=1)
    order = accepted_order()
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        with deadline_after(0.05), pytest.raises(DeadlineExceeded):
            await repository.add(order)
    finally:
        for connection in held:
            await pool.release(connection)

    assert await repository.get(order.id) is None
    later = accepted_order()
    assert await repository.add(later) == later


async def test_a_cancelled_writer_fails_its_batch_and_the_queue_moves_on(
    pool: asyncpg.Pool,
) -> None:
    repository = PostgresOrderRepository(pool, timeout=5, max_writers=1)
    orders = [accepted_order() for _ in range(3)]
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    adds = [asyncio.ensure_future(repository.add(order)) for order in orders]
    await _settle()
    adds[0].cancel()  # the writer, still waiting for a connection: its order is withdrawn
    for connection in held:
        await pool.release(connection)
    results = await asyncio.gather(*adds, return_exceptions=True)

    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == orders[1:]
    assert await repository.get(orders[0].id) is None
    assert await _transactions(pool) == 1

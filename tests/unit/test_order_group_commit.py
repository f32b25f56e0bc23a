"""The PostgreSQL order writer's group commit, driven step by step over a scripted pool.

The real adapter passes the order-store contract suite against PostgreSQL; this covers the
interleavings of writers, connections and queued orders that a real pool only hits by chance.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg

from order_service.adapters.postgres.order_repository import PostgresOrderRepository
from tests.contract.test_order_store_contract import an_order


class ScriptedPool:
    """A pool whose connections are handed out, and whose statements finish, only when the
    test says so: each `acquire` and each `fetch` waits for its own event, in call order."""

    def __init__(self) -> None:
        self.acquired: list[asyncio.Event] = []
        self.fetched: list[asyncio.Event] = []
        self.batches: list[list[uuid.UUID]] = []

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator["ScriptedPool"]:
        handed_out = asyncio.Event()
        self.acquired.append(handed_out)
        await handed_out.wait()
        yield self

    async def fetch(self, _statement: str, *columns: list[Any]) -> list[tuple[Any, ...]]:
        ids: list[uuid.UUID] = columns[0]
        self.batches.append(ids)
        finished = asyncio.Event()
        self.fetched.append(finished)
        await finished.wait()
        return [(order_id, True, None) for order_id in ids]  # every order placed, none earlier


async def settle() -> None:
    """Let every task that can run, run (the scripted pool decides when anything finishes)."""
    for _ in range(20):
        await asyncio.sleep(0)


def two_eager_writers(pool: ScriptedPool) -> PostgresOrderRepository:
    """Any waiting order starts the second writer (`overlap_at=1`): the interleavings of two
    writers, which the default reaches only with a full batch waiting."""
    return PostgresOrderRepository(
        cast("asyncpg.Pool", pool), timeout=5, max_batch=64, max_writers=2, overlap_at=1
    )


async def test_orders_queued_while_a_writer_connects_share_its_one_statement() -> None:
    pool = ScriptedPool()
    repository = two_eager_writers(pool)
    first, second, third = an_order(), an_order(), an_order()
    placing = [asyncio.create_task(repository.add(order)) for order in (first, second, third)]
    await settle()
    # Two writers (first's and second's callers) wait for connections; third is queued.
    assert len(pool.acquired) == 2
    pool.acquired[0].set()
    await settle()
    assert pool.batches == [[first.id, second.id, third.id]]
    pool.fetched[0].set()  # first's writer finishes while second's still waits to connect
    pool.acquired[1].set()  # second's writer, connected now, has nothing left to write
    await settle()
    assert [task.result() for task in placing] == [first, second, third]
    assert len(pool.batches) == 1


async def test_a_freed_slot_goes_to_a_queued_order_not_to_a_writer_still_connecting() -> None:
    """Woken, a connecting writer's own order would be skipped by every batch, and its writer
    would spin on the pool until the deadline (seen once in the contract suite under load)."""
    pool = ScriptedPool()
    repository = two_eager_writers(pool)
    first, second, third = an_order(), an_order(), an_order()
    first_task = asyncio.create_task(repository.add(first))
    await settle()
    pool.acquired[0].set()
    await settle()
    assert pool.batches == [[first.id]]  # first's writer holds its connection and writes
    rest = [asyncio.create_task(repository.add(order)) for order in (second, third)]
    await settle()
    # second's caller took the other writer slot and waits to connect; third is queued.
    assert len(pool.acquired) == 2
    pool.fetched[0].set()  # a slot is free: the turn must go to third's caller, not second's
    await settle()
    assert first_task.result() == first
    assert len(pool.acquired) == 3  # third's caller became a writer
    pool.acquired[1].set()
    await settle()
    assert pool.batches[1] == [second.id, third.id]
    pool.fetched[1].set()
    pool.acquired[2].set()  # third's writer finds its order written already
    await settle()
    assert [task.result() for task in rest] == [second, third]
    assert len(pool.batches) == 2


async def test_orders_arriving_while_a_batch_is_in_flight_wait_and_share_the_next_one() -> None:
    """With a writer slot free, each of them would have been a statement (and a commit) alone."""
    pool = ScriptedPool()
    repository = PostgresOrderRepository(
        cast("asyncpg.Pool", pool), timeout=5, max_batch=64, max_writers=2
    )
    first, *later = [an_order() for _ in range(4)]
    first_task = asyncio.create_task(repository.add(first))
    await settle()
    pool.acquired[0].set()
    await settle()
    assert pool.batches == [[first.id]]  # in flight
    later_tasks = [asyncio.create_task(repository.add(order)) for order in later]
    await settle()
    assert len(pool.acquired) == 1  # no second writer for a queue of three
    pool.fetched[0].set()
    await settle()
    assert first_task.result() == first
    pool.acquired[1].set()  # the first waiting order's caller got the turn
    await settle()
    assert pool.batches[1] == [order.id for order in later]
    pool.fetched[1].set()
    await settle()
    assert [task.result() for task in later_tasks] == later
    assert len(pool.batches) == 2


async def test_a_second_writer_starts_beside_the_first_once_a_full_batch_waits() -> None:
    pool = ScriptedPool()
    repository = PostgresOrderRepository(
        cast("asyncpg.Pool", pool), timeout=5, max_batch=2, max_writers=2
    )
    first, second, third = an_order(), an_order(), an_order()
    first_task = asyncio.create_task(repository.add(first))
    await settle()
    pool.acquired[0].set()
    await settle()
    second_task = asyncio.create_task(repository.add(second))
    await settle()
    assert len(pool.acquired) == 1  # one waiting: it waits for the batch in flight
    third_task = asyncio.create_task(repository.add(third))
    await settle()
    assert len(pool.acquired) == 2  # two waiting, a full batch: a writer starts beside
    pool.acquired[1].set()
    await settle()
    assert pool.batches == [[first.id], [second.id, third.id]]  # both in flight at once
    pool.fetched[1].set()
    pool.fetched[0].set()
    await settle()
    assert [t.result() for t in (first_task, second_task, third_task)] == [first, second, third]


async def test_an_order_arriving_as_a_batch_ends_joins_the_next_batch_not_a_batch_alone() -> None:
    """The next request of a client just answered arrives before the caller handed the turn
    has run: with the slot still free it would write a one-order statement of its own."""
    pool = ScriptedPool()
    repository = PostgresOrderRepository(
        cast("asyncpg.Pool", pool), timeout=5, max_batch=64, max_writers=2
    )
    first, batchmate, waiting, next_request = (an_order() for _ in range(4))

    async def answered_then_placed_again() -> list[object]:
        return [await repository.add(batchmate), await repository.add(next_request)]

    first_task = asyncio.create_task(repository.add(first))
    client = asyncio.create_task(answered_then_placed_again())
    await settle()
    pool.acquired[0].set()
    await settle()
    assert pool.batches == [[first.id, batchmate.id]]
    waiting_task = asyncio.create_task(repository.add(waiting))
    await settle()
    pool.fetched[0].set()  # batchmate's client places again before waiting's caller runs
    await settle()
    assert len(pool.acquired) == 2  # one writer: the caller handed the turn
    pool.acquired[1].set()
    await settle()
    assert pool.batches[1] == [waiting.id, next_request.id]
    pool.fetched[1].set()
    await settle()
    assert first_task.result() == first
    assert client.result() == [batchmate, next_request]
    assert waiting_task.result() == waiting

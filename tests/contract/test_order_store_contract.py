"""One contract for the order repository and outbox: the fake, SQLite and PostgreSQL."""

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from order_service.adapters.migrations import migrate
from order_service.adapters.postgres.database import open_postgres_pool
from order_service.adapters.postgres.order_outbox import PostgresOrderOutbox
from order_service.adapters.postgres.order_repository import PostgresOrderRepository
from order_service.adapters.postgres.search_index import PostgresSearchIndex
from order_service.adapters.sqlite.database import open_sqlite
from order_service.adapters.sqlite.order_outbox import SqliteOrderOutbox
from order_service.adapters.sqlite.order_repository import SqliteOrderDb, SqliteOrderRepository
from order_service.adapters.sqlite.search_index import SqliteSearchIndex
from order_service.application.order_ports import LeaseLost, OrderOutbox, OrderRepository
from order_service.application.search import SearchIndex
from order_service.domain.ids import new_id
from order_service.domain.orders import (
    IdempotencyKeyInUse,
    InvalidTransition,
    LineItem,
    Order,
    OrderStatus,
)
from order_service.domain.search import IndexName, parse_query
from tests.conftest import PostgresSchema
from tests.fakes.orders import InMemoryOrderStore
from tests.fakes.search import InMemorySearchStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_counter = itertools.count()


@dataclass
class Stores:
    orders: OrderRepository
    outbox: OrderOutbox
    orders_index: SearchIndex  # the orders search index over the same store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    """Synchronous set-up (migrations run their own event loop) before the async fixture."""
    kind: str = request.param
    if kind == "sqlite":
        path = tmp_path / "orders.db"
        migrate(f"sqlite:///{path}")
        return kind, path
    if kind == "postgres":
        return kind, request.getfixturevalue("postgres_schema")
    return kind, None


@pytest.fixture
async def stores(backend: tuple[str, Any]) -> AsyncIterator[Stores]:
    kind, where = backend
    if kind == "memory":
        search = InMemorySearchStore()
        fake = InMemoryOrderStore(time.time, search=search)
        yield Stores(fake, fake, search.index(IndexName.ORDERS))
    elif kind == "sqlite":
        async with open_sqlite(where) as connection:
            db = SqliteOrderDb(connection)
            index = SqliteSearchIndex(connection, IndexName.ORDERS)
            yield Stores(SqliteOrderRepository(db), SqliteOrderOutbox(db), index)
    else:
        schema: PostgresSchema = where
        async with open_postgres_pool(
            schema.dsn, schema=schema.schema, min_size=1, max_size=4, timeout=5
        ) as pool:
            yield Stores(
                PostgresOrderRepository(pool, timeout=5),
                PostgresOrderOutbox(pool, timeout=5),
                PostgresSearchIndex(pool, IndexName.ORDERS, timeout=5),
            )


def an_order(customer: uuid.UUID | None = None, key: str | None = None, **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "id": new_id(),
        "customer_id": customer or uuid.uuid4(),
        "items": (LineItem("sku-1", 2), LineItem("sku-2", 1)),
        "region": "eu",
        "idempotency_key": key or f"key-{next(_counter)}",
        "fingerprint": "f" * 64,
        "status": OrderStatus.ACCEPTED,
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return Order(**fields)


async def test_an_added_order_reads_back_equal(stores: Stores) -> None:
    order = an_order()
    await stores.orders.add(order)
    assert await stores.orders.get(order.id) == order


async def test_a_claim_carries_the_trace_context_stored_with_the_order(stores: Stores) -> None:
    traced, untraced = an_order(), an_order()
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await stores.orders.add(traced, trace_context=traceparent)
    await stores.orders.add(untraced)
    claims = await stores.outbox.claim(limit=10, lease_seconds=30)
    assert {c.order.id: c.trace_context for c in claims} == {
        traced.id: traceparent,
        untraced.id: None,
    }


async def test_an_added_order_is_returned_as_stored(stores: Stores) -> None:
    order = an_order()
    assert await stores.orders.add(order) == order


async def test_an_added_order_is_in_the_orders_index_once(stores: Stores) -> None:
    order = an_order(items=(LineItem("TEA-OOLONG", 3),), region="eu-west")
    await stores.orders.add(order)
    await stores.orders.add(an_order(customer=order.customer_id, key=order.idempotency_key))
    hits = await stores.orders_index.search(parse_query("oolong"), limit=10)
    assert [hit.id for hit in hits] == [str(order.id)]
    assert hits[0].title == order.search_document().title


async def test_a_second_order_with_the_same_customer_key_returns_the_first_unwritten(
    stores: Stores,
) -> None:
    first = an_order(key="same")
    await stores.orders.add(first)
    second = an_order(customer=first.customer_id, key="same", region="us")
    assert await stores.orders.add(second) == first
    assert await stores.orders.get(second.id) is None
    [claim] = await stores.outbox.claim(limit=10, lease_seconds=30)  # no entry for `second`
    assert claim.order == first
    # Another customer may use the same key.
    other = an_order(key="same")
    assert await stores.orders.add(other) == other


async def test_racing_adds_with_one_key_create_one_order(stores: Stores) -> None:
    customer = uuid.uuid4()
    racers = [an_order(customer=customer, key="race") for _ in range(5)]
    results = await asyncio.gather(
        *(stores.orders.add(order) for order in racers), return_exceptions=True
    )
    stored = [r for r in results if isinstance(r, Order)]
    winners = [order for order, result in zip(racers, results, strict=True) if result == order]
    assert len(winners) == 1
    # A loser gets the winner's order, or a conflict when the winner had not committed yet.
    assert all(r == winners[0] for r in stored)
    losers = [r for r in results if not isinstance(r, Order)]
    assert all(isinstance(r, IdempotencyKeyInUse) for r in losers), losers
    assert len(await stores.outbox.claim(limit=10, lease_seconds=30)) == 1


async def test_list_pages_newest_first_per_customer_and_status(stores: Stores) -> None:
    customer = uuid.uuid4()
    # Sorted by id: UUIDv7s made within one millisecond are not ordered by creation.
    mine = sorted((an_order(customer=customer) for _ in range(5)), key=lambda o: o.id)
    for order in [*mine, an_order()]:
        await stores.orders.add(order)
    page = await stores.orders.list(customer_id=customer, status=None, limit=3, before=None)
    assert [o.id for o in page] == [o.id for o in reversed(mine)][:3]
    rest = await stores.orders.list(customer_id=customer, status=None, limit=3, before=page[-1].id)
    assert [o.id for o in rest] == [mine[1].id, mine[0].id]
    everyone = await stores.orders.list(customer_id=None, status=None, limit=100, before=None)
    assert len(everyone) >= 6
    none = await stores.orders.list(
        customer_id=customer, status=OrderStatus.CONFIRMED, limit=10, before=None
    )
    assert none == []


async def test_a_claim_leases_an_entry_to_one_worker(stores: Stores) -> None:
    order = an_order()
    await stores.orders.add(order)
    first = await stores.outbox.claim(limit=10, lease_seconds=30)
    second = await stores.outbox.claim(limit=10, lease_seconds=30)
    assert [c.order for c in first] == [order]
    assert first[0].claims == 1
    assert second == []


async def test_concurrent_claimers_never_share_an_entry(stores: Stores) -> None:
    orders = [an_order() for _ in range(20)]
    for order in orders:
        await stores.orders.add(order)
    batches = await asyncio.gather(
        *(stores.outbox.claim(limit=3, lease_seconds=30) for _ in range(10))
    )
    claimed = [c.order.id for batch in batches for c in batch]
    assert sorted(claimed) == sorted(o.id for o in orders)


async def test_an_expired_lease_lets_another_worker_claim_and_fences_the_first(
    stores: Stores,
) -> None:
    order = an_order()
    await stores.orders.add(order)
    [stale] = await stores.outbox.claim(limit=1, lease_seconds=0.05)
    await asyncio.sleep(0.1)  # let the real clock pass the lease; no other task is involved
    [fresh] = await stores.outbox.claim(limit=1, lease_seconds=30)
    assert fresh.claims == 2
    with pytest.raises(LeaseLost):
        await stores.outbox.save(stale, order.routed("p", T0))
    await stores.outbox.save(fresh, order.routed("p", T0))
    assert (await stores.orders.get(order.id)).provider_id == "p"  # type: ignore[union-attr]


async def test_finish_records_the_order_and_empties_the_queue(stores: Stores) -> None:
    order = an_order()
    await stores.orders.add(order)
    [claim] = await stores.outbox.claim(limit=1, lease_seconds=30)
    done = order.routed("p", T0).dispatched(T0).confirmed("ref-1", T0 + timedelta(seconds=1))
    await stores.outbox.finish(claim, done)
    assert await stores.orders.get(order.id) == done
    assert (await stores.outbox.stats()).depth == 0
    with pytest.raises(LeaseLost):
        await stores.outbox.finish(claim, done)


async def test_retry_later_makes_the_entry_due_after_the_delay(stores: Stores) -> None:
    later, now = an_order(), an_order()
    for order in (later, now):
        await stores.orders.add(order)
    claims = await stores.outbox.claim(limit=2, lease_seconds=30)
    by_id = {c.order.id: c for c in claims}
    waiting = later.with_reason("provider busy", T0)
    await stores.outbox.retry_later(by_id[later.id], waiting, delay_seconds=3600)
    await stores.outbox.retry_later(by_id[now.id], now, delay_seconds=0)
    [again] = await stores.outbox.claim(limit=2, lease_seconds=30)
    assert again.order.id == now.id
    assert again.claims == 2
    assert await stores.orders.get(later.id) == waiting


async def test_released_claims_are_due_at_once_without_counting(stores: Stores) -> None:
    order = an_order()
    await stores.orders.add(order)
    claims = await stores.outbox.claim(limit=1, lease_seconds=30)
    await stores.outbox.release(claims)
    [again] = await stores.outbox.claim(limit=1, lease_seconds=30)
    assert again.order == order
    assert again.claims == 1


async def test_stats_count_the_queue(stores: Stores) -> None:
    for _ in range(3):
        await stores.orders.add(an_order())
    stats = await stores.outbox.stats()
    assert stats.depth == 3
    assert stats.oldest_age_seconds >= 0


async def test_requeue_gives_a_failed_order_a_new_entry(stores: Stores) -> None:
    order = an_order()
    await stores.orders.add(order)
    [claim] = await stores.outbox.claim(limit=1, lease_seconds=30)
    failed = order.failed("no luck", T0)
    await stores.outbox.finish(claim, failed)
    retried = failed.retried(T0)
    await stores.orders.requeue(retried, expected=OrderStatus.FAILED)
    [claim] = await stores.outbox.claim(limit=1, lease_seconds=30)
    assert claim.order == retried
    with pytest.raises(InvalidTransition):
        await stores.orders.requeue(retried, expected=OrderStatus.FAILED)

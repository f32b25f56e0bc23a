"""Placing, reading, listing and retrying orders, on the in-memory store."""

import asyncio
import uuid

import pytest

from order_service.application.orders import Orders
from order_service.application.ports import Principal
from order_service.domain.errors import Forbidden, InvalidInput
from order_service.domain.orders import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidTransition,
    LineItem,
    OrderNotFound,
    OrderStatus,
)
from order_service.domain.search import IndexName, parse_query
from order_service.domain.users import Role
from tests.fakes.orders import InMemoryOrderStore
from tests.fakes.search import InMemorySearchStore
from tests.fakes.users import FakeClock, FakeMonotonic

ADA = Principal(uuid.uuid4(), frozenset({Role.CUSTOMER}))
BOB = Principal(uuid.uuid4(), frozenset({Role.CUSTOMER}))
ADMIN = Principal(uuid.uuid4(), frozenset({Role.ADMIN}))
ITEMS = [LineItem("sku-1", 2)]


@pytest.fixture
def store() -> InMemoryOrderStore:
    return InMemoryOrderStore(FakeMonotonic())


@pytest.fixture
def orders(store: InMemoryOrderStore) -> Orders:
    return Orders(orders=store, clock=FakeClock())


async def test_placing_an_order_writes_it_with_its_outbox_entry(
    orders: Orders, store: InMemoryOrderStore
) -> None:
    placed = await orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="eu")
    assert not placed.replayed
    assert placed.order.status is OrderStatus.ACCEPTED
    assert store.orders == {placed.order.id: placed.order}
    assert list(store.outbox) == [placed.order.id]


async def test_the_same_key_and_body_return_the_original_order(
    orders: Orders, store: InMemoryOrderStore
) -> None:
    first = await orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="eu")
    again = await orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="eu")
    assert again.replayed
    assert again.order == first.order
    assert len(store.orders) == 1


async def test_the_same_key_with_another_body_is_refused(orders: Orders) -> None:
    await orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="eu")
    with pytest.raises(IdempotencyKeyReused):
        await orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="us")


async def test_keys_belong_to_one_customer(orders: Orders) -> None:
    mine = await orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="eu")
    theirs = await orders.place_order(BOB, idempotency_key="k", items=ITEMS, region="us")
    assert mine.order.id != theirs.order.id


async def test_a_racing_duplicate_gets_a_conflict(orders: Orders) -> None:
    results = await asyncio.gather(
        *(orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="eu") for _ in range(3)),
        return_exceptions=True,
    )
    placed = [r for r in results if not isinstance(r, BaseException)]
    assert len({p.order.id for p in placed}) == 1
    assert all(isinstance(r, IdempotencyKeyInUse) for r in results if isinstance(r, BaseException))


@pytest.mark.parametrize("key", ["", "   ", "x" * 201, "bad\nkey"])
async def test_a_bad_idempotency_key_is_refused(orders: Orders, key: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        await orders.place_order(ADA, idempotency_key=key, items=ITEMS, region="eu")
    assert raised.value.field == "Idempotency-Key"


async def test_only_the_owner_or_an_admin_reads_an_order(orders: Orders) -> None:
    placed = await orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="eu")
    assert await orders.get_order(ADA, placed.order.id) == placed.order
    assert await orders.get_order(ADMIN, placed.order.id) == placed.order
    with pytest.raises(OrderNotFound):
        await orders.get_order(BOB, placed.order.id)


async def test_a_customer_lists_its_own_orders_page_by_page(orders: Orders) -> None:
    mine = [
        (await orders.place_order(ADA, idempotency_key=f"k{n}", items=ITEMS, region="eu")).order
        for n in range(3)
    ]
    await orders.place_order(BOB, idempotency_key="k", items=ITEMS, region="eu")
    newest_first = sorted((o.id for o in mine), reverse=True)
    page = await orders.list_orders(ADA, status=None, limit=2, cursor=None)
    assert [o.id for o in page.orders] == newest_first[:2]
    assert page.next_cursor == newest_first[1]
    last = await orders.list_orders(ADA, status=None, limit=2, cursor=page.next_cursor)
    assert [o.id for o in last.orders] == newest_first[2:]
    assert last.next_cursor is None
    everyone = await orders.list_orders(ADMIN, status=OrderStatus.ACCEPTED, limit=10, cursor=None)
    assert len(everyone.orders) == 4


async def test_a_limit_out_of_range_is_refused(orders: Orders) -> None:
    with pytest.raises(InvalidInput):
        await orders.list_orders(ADA, status=None, limit=0, cursor=None)


async def test_an_admin_retries_a_failed_order(orders: Orders, store: InMemoryOrderStore) -> None:
    placed = await orders.place_order(ADA, idempotency_key="k", items=ITEMS, region="eu")
    [claim] = await store.claim(limit=1, lease_seconds=30)
    await store.finish(claim, placed.order.failed("gave up", placed.order.created_at))
    with pytest.raises(Forbidden):
        await orders.retry_order(ADA, placed.order.id)
    retried = await orders.retry_order(ADMIN, placed.order.id)
    assert retried.status is OrderStatus.ACCEPTED
    assert list(store.outbox) == [placed.order.id]
    with pytest.raises(InvalidTransition):
        await orders.retry_order(ADMIN, placed.order.id)


async def test_a_placed_order_is_findable_in_the_orders_index_by_sku_and_region(
    store: InMemoryOrderStore,
) -> None:
    search = InMemorySearchStore()
    store.search = search
    orders = Orders(orders=store, clock=FakeClock())

    placed = await orders.place_order(
        ADA, idempotency_key="k", items=[LineItem("TEA-OOLONG", 3)], region="eu-west"
    )
    await orders.place_order(
        ADA, idempotency_key="k", items=[LineItem("TEA-OOLONG", 3)], region="eu-west"
    )

    index = search.index(IndexName.ORDERS)
    by_sku = await index.search(parse_query("oolong"), limit=10)
    by_region = await index.search(parse_query("eu west"), limit=10)
    assert [hit.id for hit in by_sku] == [str(placed.order.id)]
    assert [hit.id for hit in by_region] == [str(placed.order.id)]
    assert by_sku[0].title.endswith("3 items to eu-west")
    assert len(search.documents) == 1  # a replay indexes nothing new

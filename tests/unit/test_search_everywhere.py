"""The fan-out: one task per index, deadlines, strict and partial modes, cancellation."""

import asyncio
import uuid

import pytest

from order_service.application.deadline import deadline_after
from order_service.application.ports import Principal
from order_service.application.search import SearchEverywhere, SearchIndex
from order_service.domain.errors import Forbidden, InvalidInput
from order_service.domain.search import (
    IndexName,
    IndexOutcome,
    SearchDocument,
    SearchIndexFailed,
    SearchMode,
)
from order_service.domain.users import Role
from tests.fakes.search import (
    FailingSearchIndex,
    HangingSearchIndex,
    InMemorySearchStore,
    RecordingObserver,
)
from tests.tasks import other_tasks

ADMIN = Principal(subject=uuid.uuid4(), roles=frozenset({Role.ADMIN, Role.CUSTOMER}))
CUSTOMER = Principal(subject=uuid.uuid4(), roles=frozenset({Role.CUSTOMER}))
USERS, ORDERS, PRODUCTS = IndexName.USERS, IndexName.ORDERS, IndexName.PRODUCTS
INDEX_TIMEOUT = 0.05


async def seeded_store() -> InMemorySearchStore:
    store = InMemorySearchStore()
    await store.put(SearchDocument(USERS, "u1", "Ada Lovelace", "ada@example.com"))
    await store.put(SearchDocument(USERS, "u2", "Grace Hopper", "grace@example.com"))
    await store.put(SearchDocument(PRODUCTS, "MUG-1", "Ada mug", "a mug with Ada on it"))
    await store.put(SearchDocument(ORDERS, "o1", "Order for Ada", "MUG-1 x 2"))
    return store


def search_with(
    indices: dict[IndexName, SearchIndex], observer: RecordingObserver | None = None
) -> SearchEverywhere:
    return SearchEverywhere(
        indices=indices,
        index_timeout=INDEX_TIMEOUT,
        observer=observer or RecordingObserver(),
        reserve=0.01,
    )


async def test_an_admin_gets_hits_of_every_index_merged_best_first() -> None:
    store = await seeded_store()
    search = search_with({name: store.index(name) for name in IndexName})

    results = await search.search(ADMIN, text="ada", limit=10)

    assert {(hit.index, hit.id) for hit in results.hits} == {
        (USERS, "u1"),
        (PRODUCTS, "MUG-1"),
        (ORDERS, "o1"),
    }
    scores = [hit.score for hit in results.hits]
    assert scores == sorted(scores, reverse=True)
    assert [status.outcome for status in results.statuses] == [IndexOutcome.OK] * 3
    assert not results.partial


async def test_only_the_named_indices_are_asked() -> None:
    store = await seeded_store()
    search = search_with({name: store.index(name) for name in IndexName})

    results = await search.search(ADMIN, text="ada", indices=[PRODUCTS], limit=10)

    assert [hit.index for hit in results.hits] == [PRODUCTS]
    assert [status.index for status in results.statuses] == [PRODUCTS]


async def test_limit_is_honoured_across_indices() -> None:
    store = await seeded_store()
    search = search_with({name: store.index(name) for name in IndexName})

    results = await search.search(ADMIN, text="ada", limit=2)

    assert len(results.hits) == 2


async def test_a_customer_may_not_search() -> None:
    store = await seeded_store()
    with pytest.raises(Forbidden):
        await search_with({USERS: store.index(USERS)}).search(CUSTOMER, text="ada", limit=5)


async def test_an_index_not_served_here_is_invalid() -> None:
    store = await seeded_store()
    search = search_with({USERS: store.index(USERS)})
    with pytest.raises(InvalidInput):
        await search.search(ADMIN, text="ada", indices=[ORDERS], limit=5)


async def test_partial_mode_reports_a_hung_index_and_returns_the_others() -> None:
    store = await seeded_store()
    hung = HangingSearchIndex()
    observer = RecordingObserver()
    search = search_with({USERS: hung, PRODUCTS: store.index(PRODUCTS)}, observer)
    before = other_tasks()

    results = await search.search(ADMIN, text="ada", limit=10)

    assert results.partial
    assert [hit.id for hit in results.hits] == ["MUG-1"]
    statuses = {status.index: status for status in results.statuses}
    assert statuses[USERS].outcome is IndexOutcome.TIMEOUT
    assert statuses[PRODUCTS].outcome is IndexOutcome.OK
    # The hung call was cancelled at its deadline, not abandoned, and no task outlives the call.
    assert hung.cancelled.is_set()
    assert other_tasks() == before
    assert observer.outcome_of(USERS) is IndexOutcome.TIMEOUT
    assert observer.open_spans == set()


async def test_partial_mode_reports_a_failing_index_without_raising() -> None:
    store = await seeded_store()
    observer = RecordingObserver()
    search = search_with({ORDERS: FailingSearchIndex(), USERS: store.index(USERS)}, observer)

    results = await search.search(ADMIN, text="ada", limit=10)

    statuses = {status.index: status for status in results.statuses}
    assert statuses[ORDERS].outcome is IndexOutcome.ERROR
    assert statuses[ORDERS].detail == "ConnectionResetError"
    assert [hit.id for hit in results.hits] == ["u1"]
    assert observer.outcome_of(ORDERS) is IndexOutcome.ERROR


async def test_strict_mode_fails_on_the_first_error_and_cancels_the_siblings() -> None:
    first_hung, second_hung = HangingSearchIndex(), HangingSearchIndex()
    both_started = asyncio.Event()

    async def when_both_started() -> None:
        await first_hung.started.wait()
        await second_hung.started.wait()
        both_started.set()

    failing = FailingSearchIndex(wait_for=both_started)
    observer = RecordingObserver()
    search = SearchEverywhere(
        indices={USERS: first_hung, PRODUCTS: second_hung, ORDERS: failing},
        index_timeout=30.0,  # far away: the siblings must end by cancellation, not by timeout
        observer=observer,
    )
    before = other_tasks()

    async with asyncio.TaskGroup() as group:
        group.create_task(when_both_started())
        with pytest.raises(SearchIndexFailed) as error:
            await search.search(ADMIN, text="ada", limit=10, mode=SearchMode.STRICT)

    assert error.value.status.index is ORDERS
    assert error.value.status.outcome is IndexOutcome.ERROR
    assert first_hung.cancelled.is_set()
    assert second_hung.cancelled.is_set()
    assert observer.outcome_of(USERS) is IndexOutcome.CANCELLED
    assert observer.outcome_of(PRODUCTS) is IndexOutcome.CANCELLED
    assert other_tasks() == before


async def test_strict_mode_fails_when_an_index_times_out() -> None:
    store = await seeded_store()
    hung = HangingSearchIndex()
    search = search_with({USERS: store.index(USERS), ORDERS: hung})

    with pytest.raises(SearchIndexFailed, match="'orders' failed: timeout"):
        await search.search(ADMIN, text="ada", limit=10, mode=SearchMode.STRICT)

    assert hung.cancelled.is_set()


async def test_the_request_deadline_bounds_every_index_below_its_own_timeout() -> None:
    store = await seeded_store()
    hung = HangingSearchIndex()
    search = SearchEverywhere(
        indices={USERS: hung, PRODUCTS: store.index(PRODUCTS)},
        index_timeout=30.0,
        observer=RecordingObserver(),
        reserve=0.01,
    )

    # The outer timeout would fail the test if the index were bounded by its 30 s only; the
    # index must time out first, leaving time to answer with the other index's hits.
    with deadline_after(0.1):
        async with asyncio.timeout(0.1):
            results = await search.search(ADMIN, text="ada", limit=10)

    assert {status.index: status.outcome for status in results.statuses} == {
        USERS: IndexOutcome.TIMEOUT,
        PRODUCTS: IndexOutcome.OK,
    }


async def test_cancelling_the_request_cancels_every_index_query() -> None:
    hung = {name: HangingSearchIndex() for name in IndexName}
    observer = RecordingObserver()
    search = SearchEverywhere(
        indices=dict(hung), index_timeout=30.0, observer=observer, reserve=0.01
    )
    before = other_tasks()

    async with asyncio.TaskGroup() as group:
        request = group.create_task(search.search(ADMIN, text="ada", limit=10))
        for index in hung.values():
            await index.started.wait()
        request.cancel()  # what the HTTP edge does when the client disconnects

    assert request.cancelled()
    assert all(index.cancelled.is_set() for index in hung.values())
    assert sorted(observer.outcomes) == sorted((name, IndexOutcome.CANCELLED) for name in hung)
    assert observer.open_spans == set()
    assert other_tasks() == before

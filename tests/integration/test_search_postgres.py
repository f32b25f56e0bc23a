"""Cancellation against real PostgreSQL: the server stops the query, the pool gets its connection.

A test session holds an ACCESS EXCLUSIVE lock on search_documents, so every real index query
waits on the server until it is cancelled: a hang the adapter cannot tell from a slow index.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from order_service.application.search import SearchEverywhere, SearchIndex
from order_service.domain.search import (
    IndexName,
    IndexOutcome,
    SearchDocument,
    SearchHit,
    SearchIndexFailed,
    SearchMode,
    SearchQuery,
)
from tests.asgi import call, started
from tests.conftest import PostgresSchema
from tests.contract.search_backends import SearchBackend, postgres_backend
from tests.fakes.search import FailingSearchIndex, RecordingObserver
from tests.integration.search_app import ADMIN, AS_ADMIN, search_and_hang_up, search_app
from tests.search_activity import wait_for_waiting_searches, waiting_searches
from tests.tasks import other_tasks

pytestmark = pytest.mark.postgres


class SignallingIndex:
    """Delegates to a real index and says when the call has begun."""

    def __init__(self, inner: SearchIndex) -> None:
        self.inner = inner
        self.started = asyncio.Event()

    async def search(self, query: SearchQuery, limit: int) -> Sequence[SearchHit]:
        self.started.set()
        return await self.inner.search(query, limit)


@pytest.fixture
async def backend(postgres_schema: PostgresSchema) -> AsyncIterator[SearchBackend]:
    async with postgres_backend(postgres_schema, max_size=4) as backend:
        await backend.indexer.put(SearchDocument(IndexName.USERS, "u1", "Ada", "ada@example.com"))
        yield backend


@pytest.fixture
async def locked(postgres_schema: PostgresSchema) -> AsyncIterator[asyncpg.Connection]:
    """A session holding the table lock until the test ends."""
    connection = await asyncpg.connect(
        postgres_schema.dsn, server_settings={"search_path": postgres_schema.schema}
    )
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("LOCK TABLE search_documents IN ACCESS EXCLUSIVE MODE")
        yield connection
        await transaction.rollback()
    finally:
        await connection.close()


def assert_pool_idle(pool: asyncpg.Pool | None) -> None:
    assert pool is not None
    assert pool.get_idle_size() == pool.get_size()


async def test_hung_queries_time_out_are_cancelled_on_the_server_and_release_the_pool(
    backend: SearchBackend, locked: asyncpg.Connection
) -> None:
    search = SearchEverywhere(
        indices={name: backend.index(name) for name in IndexName},
        index_timeout=0.3,
        observer=RecordingObserver(),
    )
    before = other_tasks()

    results = await search.search(ADMIN, text="ada", limit=5)

    assert [status.outcome for status in results.statuses] == [IndexOutcome.TIMEOUT] * 3
    assert other_tasks() == before
    assert_pool_idle(backend.pool)
    assert await waiting_searches(locked) == 0


async def test_strict_mode_cancels_the_sibling_query_on_the_server(
    backend: SearchBackend, locked: asyncpg.Connection
) -> None:
    users = SignallingIndex(backend.index(IndexName.USERS))
    search = SearchEverywhere(
        indices={
            IndexName.USERS: users,
            IndexName.ORDERS: FailingSearchIndex(wait_for=users.started),
        },
        index_timeout=30.0,
        observer=RecordingObserver(),
    )

    with pytest.raises(SearchIndexFailed, match="'orders'"):
        await search.search(ADMIN, text="ada", limit=5, mode=SearchMode.STRICT)

    assert_pool_idle(backend.pool)
    assert await waiting_searches(locked) == 0


async def test_a_client_disconnect_cancels_the_queries_on_the_server(
    backend: SearchBackend, locked: asyncpg.Connection
) -> None:
    app = search_app(
        {name: backend.index(name) for name in IndexName},
        indexer=backend.indexer,
        registry=CollectorRegistry(),
    )

    async def all_wait_on_the_lock() -> None:
        await wait_for_waiting_searches(locked, 3)

    async with started(app):
        before = other_tasks()
        answer = await search_and_hang_up(app, once=all_wait_on_the_lock)
        assert other_tasks() == before

    assert answer.messages == []
    assert_pool_idle(backend.pool)
    assert await waiting_searches(locked) == 0


async def test_bad_queries_are_safe_on_postgres(backend: SearchBackend) -> None:
    app = search_app(
        {name: backend.index(name) for name in IndexName},
        indexer=backend.indexer,
        registry=CollectorRegistry(),
    )
    hostile = [
        "%27%20OR%201%3D1--",
        "ada%3A*%20%26%20!x",
        "%5C%27%22",
        "ada%00",
        "%E2%80%AE%E2%80%8B",
        "ada%20" + "x" * 190,
    ]
    async with started(app):
        for text in hostile:
            answer = await call(app, "GET", "/v1/search", query=f"q={text}", headers=AS_ADMIN)
            assert answer.status in {200, 422}, (text, answer.body)
            if answer.status == 200:
                assert answer.json()["partial"] is False, answer.body
    assert_pool_idle(backend.pool)


async def test_many_concurrent_searches_share_a_small_pool_and_give_it_back(
    backend: SearchBackend,
) -> None:
    search = SearchEverywhere(
        indices={name: backend.index(name) for name in IndexName},
        index_timeout=5.0,
        observer=RecordingObserver(),
    )
    before = other_tasks()

    async with asyncio.TaskGroup() as group:
        searches = [
            group.create_task(search.search(ADMIN, text="ada", limit=5)) for _ in range(100)
        ]

    # 300 index queries through 4 connections: they queue for the pool instead of failing.
    outcomes = {status.outcome for task in searches for status in task.result().statuses}
    assert outcomes == {IndexOutcome.OK}
    assert all(task.result().hits[0].id == "u1" for task in searches)
    assert other_tasks() == before
    assert_pool_idle(backend.pool)
    assert backend.pool is not None
    assert backend.pool.get_size() <= 4

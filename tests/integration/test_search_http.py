"""GET /v1/search through the ASGI app: statuses, bad input, deadlines, client disconnects."""

import asyncio
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry

from order_service.adapters.http.app import HttpApp
from order_service.adapters.http.openapi import openapi_document
from order_service.domain.search import IndexName, SearchDocument
from tests.asgi import call, started
from tests.fakes.search import (
    FailingSearchIndex,
    HangingSearchIndex,
    InMemorySearchStore,
)
from tests.integration.search_app import AS_ADMIN, AS_CUSTOMER, search_and_hang_up, search_app
from tests.tasks import other_tasks

USERS, ORDERS, PRODUCTS = IndexName.USERS, IndexName.ORDERS, IndexName.PRODUCTS


@pytest.fixture
async def store() -> InMemorySearchStore:
    store = InMemorySearchStore()
    await store.put(SearchDocument(USERS, "u1", "Ada Lovelace", "ada@example.com"))
    await store.put(SearchDocument(PRODUCTS, "MUG-1", "Ada mug", "MUG-1 blue"))
    await store.put(SearchDocument(ORDERS, "o1", "Order for Ada", "MUG-1 x 2"))
    return store


@pytest.fixture
async def app(store: InMemorySearchStore) -> AsyncIterator[HttpApp]:
    app = search_app(
        {name: store.index(name) for name in IndexName},
        indexer=store,
        registry=CollectorRegistry(),
    )
    async with started(app):
        yield app


async def test_an_admin_searches_every_index(app: HttpApp) -> None:
    answer = await call(app, "GET", "/v1/search", query="q=ada&limit=10", headers=AS_ADMIN)

    assert answer.status == 200
    body = answer.json()
    assert {(hit["index"], hit["id"]) for hit in body["hits"]} == {
        ("users", "u1"),
        ("products", "MUG-1"),
        ("orders", "o1"),
    }
    assert body["partial"] is False
    assert body["mode"] == "partial"
    assert {name: status["status"] for name, status in body["indices"].items()} == {
        "users": "ok",
        "orders": "ok",
        "products": "ok",
    }


async def test_a_customer_is_forbidden(app: HttpApp) -> None:
    answer = await call(app, "GET", "/v1/search", query="q=ada", headers=AS_CUSTOMER)
    assert answer.status == 403
    assert answer.content_type == b"application/problem+json"


async def test_an_anonymous_caller_must_authenticate(app: HttpApp) -> None:
    answer = await call(app, "GET", "/v1/search", query="q=ada")
    assert answer.status == 401


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 422),
        ("q=", 422),
        ("q=%20%20", 422),
        ("q=" + "a" * 201, 422),
        ("q=a%20b%20c%20d%20e%20f%20g%20h%20i", 422),
        ("q=%21%40%23%24%25%5E%26*()", 422),
        ("q=%22%27%22", 422),
        ("q=ada&indices=invoices", 422),
        ("q=ada&indices=users,%27;DROP%20TABLE%20users", 422),
        ("q=ada&limit=0", 422),
        ("q=ada&limit=101", 422),
        ("q=ada&limit=-1", 422),
        ("q=ada&limit=1e3", 422),
        ("q=ada&limit=ten", 422),
        ("q=ada&limit=" + "9" * 5000, 422),
        ("q=ada&mode=eventual", 422),
        ("q=ada&q=bob", 400),
        ("q=ada&sort=score", 400),
        ("q=%FF%FE", 422),
    ],
)
async def test_bad_queries_get_a_problem_not_a_500(app: HttpApp, query: str, status: int) -> None:
    answer = await call(app, "GET", "/v1/search", query=query, headers=AS_ADMIN)
    assert answer.status == status, answer.body
    assert answer.content_type == b"application/problem+json"


@pytest.mark.parametrize(
    "text",
    [
        "%22ada%22%20OR%201%3D1%3B%20DROP%20TABLE%20users%3B%20--",
        "title%3Aada*",
        "ada%20%26%20!mug%20%7C%20x%20%3C-%3E%20y%3A*",
        "%27ada",
        "ada%00",
        "%E6%BC%A2%E5%AD%97",
    ],
)
async def test_operators_quotes_and_sql_in_a_query_are_searched_as_text(
    app: HttpApp, text: str
) -> None:
    answer = await call(app, "GET", "/v1/search", query=f"q={text}", headers=AS_ADMIN)
    assert answer.status == 200, answer.body
    assert answer.json()["partial"] is False


async def test_a_hung_index_returns_partial_results_within_the_request_timeout(
    store: InMemorySearchStore,
) -> None:
    hung = HangingSearchIndex()
    app = search_app(
        {USERS: hung, PRODUCTS: store.index(PRODUCTS)},
        indexer=store,
        registry=CollectorRegistry(),
    )
    timeout = 0.3
    async with started(app):
        before = other_tasks()
        began = time.monotonic()
        answer = await call(
            app,
            "GET",
            "/v1/search",
            query="q=ada",
            headers={**AS_ADMIN, "x-request-timeout": str(timeout)},
        )
        elapsed = time.monotonic() - began
        assert other_tasks() == before

    assert answer.status == 200
    body = answer.json()
    assert body["partial"] is True
    assert body["indices"]["users"]["status"] == "timeout"
    assert [hit["id"] for hit in body["hits"]] == ["MUG-1"]
    assert hung.cancelled.is_set()
    # A latency bound, not a speed benchmark: one second of slack for a noisy shared machine.
    assert elapsed < timeout + 1.0


async def test_strict_mode_answers_503_when_an_index_fails(store: InMemorySearchStore) -> None:
    hung = HangingSearchIndex()
    app = search_app(
        {USERS: hung, ORDERS: FailingSearchIndex(wait_for=hung.started)},
        indexer=store,
        registry=CollectorRegistry(),
    )
    async with started(app):
        answer = await call(app, "GET", "/v1/search", query="q=ada&mode=strict", headers=AS_ADMIN)

    assert answer.status == 503
    assert int(answer.headers[b"retry-after"]) >= 1
    assert b"'orders' failed: error" in answer.body
    assert hung.cancelled.is_set()


async def test_a_client_disconnect_cancels_every_index_query(store: InMemorySearchStore) -> None:
    hung = {name: HangingSearchIndex() for name in IndexName}
    registry = CollectorRegistry()
    app = search_app(dict(hung), indexer=store, registry=registry)

    async def all_started() -> None:
        for index in hung.values():
            await index.started.wait()

    async with started(app):
        before = other_tasks()
        answer = await search_and_hang_up(app, once=all_started)
        assert other_tasks() == before

    assert answer.messages == []  # nobody to answer
    assert all(index.cancelled.is_set() for index in hung.values())
    for name in IndexName:
        labels = {"index": name.value, "outcome": "cancelled"}
        assert registry.get_sample_value("search_index_queries_total", labels) == 1
        count = registry.get_sample_value("search_index_duration_seconds_count", {"index": name})
        assert count == 1


async def test_outcomes_and_latencies_are_counted_per_index(store: InMemorySearchStore) -> None:
    registry = CollectorRegistry()
    app = search_app(
        {USERS: store.index(USERS), ORDERS: HangingSearchIndex(), PRODUCTS: FailingSearchIndex()},
        indexer=store,
        registry=registry,
        index_timeout=0.05,
    )
    async with started(app):
        answer = await call(app, "GET", "/v1/search", query="q=ada", headers=AS_ADMIN)
    assert answer.status == 200

    def queries(index: str, outcome: str) -> float | None:
        labels = {"index": index, "outcome": outcome}
        return registry.get_sample_value("search_index_queries_total", labels)

    assert queries("users", "ok") == 1
    assert queries("orders", "timeout") == 1
    assert queries("products", "error") == 1
    bucket = {"index": "orders", "le": "0.001"}
    assert registry.get_sample_value("search_index_duration_seconds_bucket", bucket) == 0


async def test_many_concurrent_searches_grow_neither_tasks_nor_memory(
    store: InMemorySearchStore,
) -> None:
    app = search_app(
        {USERS: store.index(USERS), ORDERS: HangingSearchIndex(), PRODUCTS: store.index(PRODUCTS)},
        indexer=store,
        registry=CollectorRegistry(),
        index_timeout=0.02,
    )
    rounds, per_round = 6, 200
    retained: list[int] = []
    tracemalloc.start()
    try:
        async with started(app):
            before = other_tasks()
            peak = 0
            for _ in range(rounds):
                async with asyncio.TaskGroup() as group:
                    requests = [
                        group.create_task(
                            call(app, "GET", "/v1/search", query="q=ada", headers=AS_ADMIN)
                        )
                        for _ in range(per_round)
                    ]
                    await asyncio.sleep(0)  # let them start, to count them in flight
                    peak = max(peak, len(other_tasks()))
                assert all(request.result().status == 200 for request in requests)
                assert other_tasks() == before
                del requests
                gc.collect()
                retained.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # Each in-flight request owns its handler, a disconnect watcher and one task per index.
    assert peak <= len(before) + per_round * 6
    # After the first round has warmed caches, later rounds retain (almost) nothing more.
    assert retained[-1] - retained[1] < 512 * 1024, retained


async def test_a_product_added_by_an_admin_is_readable_by_anyone_and_searchable(
    app: HttpApp,
) -> None:
    body = b'{"sku": "tea-9", "name": "Oolong tea", "description": "smoky", "price_cents": 990}'
    json = {"content-type": "application/json"}
    created = await call(app, "POST", "/v1/products", headers={**AS_ADMIN, **json}, body=body)
    assert created.status == 201, created.body
    assert created.headers[b"location"] == b"/v1/products/TEA-9"

    read = await call(app, "GET", "/v1/products/tea-9")
    assert read.status == 200
    assert read.json()["name"] == "Oolong tea"
    assert read.json()["currency"] == "EUR"

    found = await call(app, "GET", "/v1/search", query="q=oolong", headers=AS_ADMIN)
    assert [hit["id"] for hit in found.json()["hits"]] == ["TEA-9"]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (AS_CUSTOMER, b'{"sku": "X-1", "name": "n", "price_cents": 1}', 403),
        ({}, b'{"sku": "X-1", "name": "n", "price_cents": 1}', 401),
        (AS_ADMIN, b'{"sku": "no spaces", "name": "n", "price_cents": 1}', 422),
        (AS_ADMIN, b'{"sku": "X-1", "name": " ", "price_cents": 1}', 422),
        (AS_ADMIN, b'{"sku": "X-1", "name": "n", "price_cents": -1}', 422),
        (AS_ADMIN, b'{"sku": "X-1", "name": "n", "price_cents": 1, "currency": "euro"}', 422),
        (AS_ADMIN, b'{"sku": "X-1", "name": "n"}', 422),
        (AS_ADMIN, b'{"sku": "X-1", "name": "n", "price_cents": 1, "colour": "red"}', 422),
        (AS_ADMIN, b'{"sku": ', 400),
    ],
)
async def test_bad_product_writes_get_a_problem(
    app: HttpApp, headers: dict[str, str], body: bytes, status: int
) -> None:
    answer = await call(
        app,
        "POST",
        "/v1/products",
        headers={**headers, "content-type": "application/json"},
        body=body,
    )
    assert answer.status == status, answer.body
    assert answer.content_type == b"application/problem+json"


async def test_a_duplicate_sku_is_a_conflict_and_a_missing_one_is_not_found(app: HttpApp) -> None:
    json = {**AS_ADMIN, "content-type": "application/json"}
    body = b'{"sku": "X-1", "name": "n", "price_cents": 1}'
    assert (await call(app, "POST", "/v1/products", headers=json, body=body)).status == 201
    assert (await call(app, "POST", "/v1/products", headers=json, body=body)).status == 409
    assert (await call(app, "GET", "/v1/products/X-2")).status == 404
    assert (await call(app, "GET", "/v1/products/%20bad%20sku")).status == 404


async def test_the_openapi_document_describes_search_and_products(app: HttpApp) -> None:
    document = openapi_document(app.router.routes, title="t", version="1")
    validate(document)
    search = document["paths"]["/v1/search"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in search["parameters"]] == [
        ("q", "query", True),
        ("indices", "query", False),
        ("limit", "query", False),
        ("mode", "query", False),
    ]
    assert set(document["paths"]) >= {"/v1/products", "/v1/products/{sku}"}

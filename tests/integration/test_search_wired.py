"""The composition root's search on each real store: writes are indexed, bad queries are safe."""

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from order_service.adapters.http.app import HttpApp
from order_service.adapters.migrations import migrate
from order_service.bootstrap import build_http_app, wire
from order_service.platform.config import Settings
from tests.asgi import call, started
from tests.conftest import PostgresSchema

JSON = {"content-type": "application/json"}
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "a long admin passphrase"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    fast = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}
    if request.param == "sqlite":
        settings = Settings(var_dir=tmp_path, **fast)  # type: ignore[arg-type]
        migrate(settings.effective_database_url)
        return settings
    schema: PostgresSchema = request.getfixturevalue("postgres_schema")
    return Settings(
        var_dir=tmp_path,
        database_url=schema.dsn,
        database_schema=schema.schema,
        **fast,  # type: ignore[arg-type]
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[HttpApp]:
    async with wire(settings) as wiring:
        await wiring.accounts.create_admin(email=ADMIN_EMAIL, name="Root", password=ADMIN_PASSWORD)
    app = build_http_app(settings)
    async with started(app):
        yield app


async def token(app: HttpApp, email: str, password: str) -> dict[str, str]:
    body = msgspec.json.encode({"email": email, "password": password})
    answer = await call(app, "POST", "/v1/auth/token", headers=JSON, body=body)
    assert answer.status == 200, answer.body
    return {"authorization": f"Bearer {answer.json()['access_token']}"}


async def test_registered_users_and_added_products_are_found(app: HttpApp) -> None:
    admin = await token(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    user = msgspec.json.encode(
        {"email": "ada@example.com", "name": "Ada Lovelace", "password": "analytical engine 1843"}
    )
    registered = await call(app, "POST", "/v1/users", headers=JSON, body=user)
    assert registered.status == 201
    product = msgspec.json.encode(
        {
            "sku": "BOOK-1",
            "name": "Notes by Lovelace",
            "description": "On the engine",
            "price_cents": 1,
        }
    )
    added = await call(app, "POST", "/v1/products", headers={**admin, **JSON}, body=product)
    assert added.status == 201

    answer = await call(app, "GET", "/v1/search", query="q=lovelace", headers=admin)

    assert answer.status == 200
    hits = [(hit["index"], hit["id"]) for hit in answer.json()["hits"]]
    assert set(hits) == {("users", registered.json()["id"]), ("products", "BOOK-1")}

    only_users = await call(
        app, "GET", "/v1/search", query="q=lovelace&indices=users&limit=1", headers=admin
    )
    assert [hit["index"] for hit in only_users.json()["hits"]] == ["users"]
    assert list(only_users.json()["indices"]) == ["users"]


async def test_a_customer_gets_403(app: HttpApp) -> None:
    user = msgspec.json.encode(
        {"email": "bob@example.com", "name": "Bob", "password": "a fine long password"}
    )
    assert (await call(app, "POST", "/v1/users", headers=JSON, body=user)).status == 201
    customer = await token(app, "bob@example.com", "a fine long password")
    answer = await call(app, "GET", "/v1/search", query="q=bob", headers=customer)
    assert answer.status == 403


BAD_QUERIES = [
    "q=",
    "q=" + "x" * 5000,
    "q=%21%21%21",
    "q=%22%27%60",
    "q=ada%20OR%201%3D1%3B%20DROP%20TABLE%20users%3B--",
    "q=NEAR(ada%20b)%20title%3Aa*%20%5Eada",
    "q=ada%3A*%20%26%20!b%20%7C%20c%20%3C-%3E%20d",
    "q=ada&indices=users,nope",
    "q=ada&limit=abc",
    "q=%00",
]


async def test_bad_queries_never_answer_500(app: HttpApp) -> None:
    admin = await token(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    statuses = set()
    for query in BAD_QUERIES:
        answer = await call(app, "GET", "/v1/search", query=query, headers=admin)
        assert answer.status in {200, 400, 422}, (query, answer.body)
        statuses.add(answer.status)
        if answer.status == 200:
            assert answer.json()["partial"] is False, query
        else:
            assert answer.content_type == b"application/problem+json", query
    assert statuses == {200, 422}

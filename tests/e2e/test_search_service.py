"""The real service process: an operator searches after `create-admin`, and a client that hangs
up cancels its search on the database server."""

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import PostgresSchema
from tests.search_activity import wait_for_waiting_searches
from tests.service_process import run_cli, running_service, service_env

PASSWORD = "operator passphrase 42"


def admin_headers(client: httpx.Client, env: dict[str, str]) -> dict[str, str]:
    run_cli(
        "create-admin", "--email", "ops@example.com", "--password-stdin", env=env, stdin=PASSWORD
    )
    answer = client.post("/v1/auth/token", json={"email": "ops@example.com", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"authorization": f"Bearer {answer.json()['access_token']}"}


def test_an_operator_finds_users_and_products_on_the_embedded_default(tmp_path: Path) -> None:
    with running_service(tmp_path) as service, httpx.Client(base_url=service.base_url) as client:
        admin = admin_headers(client, service_env(tmp_path))
        registered = client.post(
            "/v1/users",
            json={
                "email": "grace@example.com",
                "name": "Grace Hopper",
                "password": "cobol forever 1959",
            },
        )
        assert registered.status_code == 201
        product = {"sku": "MUG-9", "name": "Hopper mug", "price_cents": 800}
        assert client.post("/v1/products", json=product, headers=admin).status_code == 201
        assert client.get("/v1/products/mug-9").json()["name"] == "Hopper mug"

        answer = client.get("/v1/search", params={"q": "hopper"}, headers=admin)

        assert answer.status_code == 200
        body = answer.json()
        assert {(hit["index"], hit["id"]) for hit in body["hits"]} == {
            ("users", registered.json()["id"]),
            ("products", "MUG-9"),
        }
        assert body["indices"]["orders"]["status"] == "ok"
        assert "/v1/search" in client.get("/openapi.json").json()["paths"]


@pytest.mark.postgres
async def test_a_client_that_hangs_up_cancels_its_search_on_the_server(
    tmp_path: Path, postgres_schema: PostgresSchema
) -> None:
    env = {
        "ORDER_SERVICE_DATABASE_URL": postgres_schema.dsn,
        "ORDER_SERVICE_DATABASE_SCHEMA": postgres_schema.schema,
        # Far beyond the test's patience: only cancellation can end the queries in time.
        "ORDER_SERVICE_SEARCH_TIMEOUT_SECONDS": "60",
        "ORDER_SERVICE_SEARCH_INDEX_TIMEOUT_SECONDS": "60",
    }
    search_path = {"search_path": postgres_schema.schema}
    with running_service(tmp_path, env=env) as service:
        with httpx.Client(base_url=service.base_url) as client:
            authorization = admin_headers(client, service_env(tmp_path, env))["authorization"]
        locker = await asyncpg.connect(postgres_schema.dsn, server_settings=search_path)
        observer = await asyncpg.connect(postgres_schema.dsn, server_settings=search_path)
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE search_documents IN ACCESS EXCLUSIVE MODE")
                port = int(service.base_url.rsplit(":", 1)[1])
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(
                    b"GET /v1/search?q=ada HTTP/1.1\r\nhost: localhost\r\n"
                    + f"authorization: {authorization}\r\n\r\n".encode()
                )
                await writer.drain()
                await wait_for_waiting_searches(observer, 3)

                writer.close()
                await writer.wait_closed()

                await wait_for_waiting_searches(observer, 0)
        finally:
            await observer.close()
            await locker.close()
    assert "client disconnected" in service.logs()


def test_reindex_rebuilds_the_documents_of_users_products_and_orders(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    with running_service(tmp_path) as service, httpx.Client(base_url=service.base_url) as client:
        admin = admin_headers(client, env)
        product = {"sku": "TEA-1", "name": "Oolong", "price_cents": 500}
        assert client.post("/v1/products", json=product, headers=admin).status_code == 201
        order = client.post(
            "/v1/orders",
            json={"items": [{"sku": "TEA-1", "quantity": 2}], "region": "oolongshire"},
            headers={**admin, "idempotency-key": "reindex-1"},
        )
        assert order.status_code == 202, order.text
    # Lose the index, as a failed best-effort write would, then repair it.
    database = tmp_path / "order-service.db"
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM search_documents")

    assert run_cli("reindex", env=env).strip() == "3 search documents rebuilt"

    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT d.kind, d.id FROM search_fts JOIN search_documents AS d "
            "ON d.doc_rowid = search_fts.rowid WHERE search_fts MATCH ? ORDER BY d.kind",
            ('"oolong" OR "ops" OR "oolongshire"',),
        ).fetchall()
    assert [kind for kind, _ in rows] == ["orders", "products", "users"]
    assert rows[0][1] == order.json()["id"]
    assert rows[1][1] == "TEA-1"

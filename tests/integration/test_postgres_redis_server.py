"""The production configuration: PostgreSQL, Redis and several worker processes."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PostgresSchema
from tests.service_process import RunningService, run_cli, running_service, service_env

PASSWORD = "correct horse battery staple"


@pytest.fixture
def production_like(
    postgres_schema: PostgresSchema, redis_available: str, tmp_path: Path
) -> Iterator[RunningService]:
    env = {
        "ORDER_SERVICE_DATABASE_URL": postgres_schema.dsn,
        "ORDER_SERVICE_DATABASE_SCHEMA": postgres_schema.schema,
        "ORDER_SERVICE_REDIS_URL": redis_available,
        "ORDER_SERVICE_LOGIN_MAX_FAILURES_PER_EMAIL": "4",
        "ORDER_SERVICE_DB_POOL_MIN_SIZE": "1",
        "ORDER_SERVICE_DB_POOL_MAX_SIZE": "4",
    }
    # Migrating twice proves the migration is idempotent on an existing schema.
    run_cli("migrate", env=service_env(tmp_path, env))
    with running_service(tmp_path, env=env, workers=2) as service:
        yield service


def test_the_journey_works_on_postgres_across_two_workers(
    production_like: RunningService,
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=production_like.base_url, timeout=10) as client:
        created = client.post(
            "/v1/users", json={"email": email, "name": "Pg", "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        ready = client.get("/ready").json()
        # Each new connection may land on either worker; every one must verify every token.
        tokens = [
            client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
            for _ in range(6)
        ]
        me = [
            httpx.get(
                f"{production_like.base_url}/v1/users/me",
                headers={"authorization": f"Bearer {t.json()['access_token']}"},
            )
            for t in tokens
        ]
    assert set(ready["checks"]) == {"database", "redis"}
    assert all(r.status_code == 200 and r.json()["id"] == created.json()["id"] for r in me)


def test_log_in_failures_are_counted_across_workers_through_redis(
    production_like: RunningService,
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    url = production_like.base_url
    httpx.post(f"{url}/v1/users", json={"email": email, "name": "T", "password": PASSWORD})
    # A new connection per attempt, so the attempts spread over both workers.
    statuses = [
        httpx.post(
            f"{url}/v1/auth/token",
            json={"email": email, "password": "wrong guess"},
            headers={"connection": "close"},
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [401, 401, 401, 401, 429, 429]


def test_sigterm_stops_every_worker_and_exits_zero(production_like: RunningService) -> None:
    assert production_like.stop() == 0

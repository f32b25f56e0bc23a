"""Fixtures shared by every test layer: real PostgreSQL and Redis, each isolated per test.

Tests that need PostgreSQL or Redis skip with the reason when the server is absent on a
laptop, and fail when CI=true, so CI can never pass by skipping them.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import pytest
from redis.asyncio import Redis

from order_service.adapters.migrations import migrate

POSTGRES_DSN = os.environ.get(
    "ORDER_SERVICE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
T = TypeVar("T")
REDIS_URL = os.environ.get("ORDER_SERVICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Cheap argon2 parameters for tests: the real algorithm, a fraction of the cost.
FAST_ARGON2_ENV = {
    "ORDER_SERVICE_ARGON2_TIME_COST": "1",
    "ORDER_SERVICE_ARGON2_MEMORY_KIB": "1024",
    "ORDER_SERVICE_ARGON2_PARALLELISM": "1",
}


def in_own_loop(factory: Callable[[], Coroutine[object, object, T]]) -> T:
    """Run a coroutine to completion on a thread of its own.

    Fixtures may be requested from async tests, whose loop is already running on this thread.
    """
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, factory()).result()


def unavailable(what: str, error: BaseException) -> None:
    """Skip on a laptop without the server; fail under CI, where it must be there."""
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if IN_CI:
        pytest.fail(f"{message}; CI must provide it")
    pytest.skip(message)


@dataclass(frozen=True)
class PostgresSchema:
    """A freshly migrated schema of its own in the test database."""

    dsn: str
    schema: str


@pytest.fixture(scope="session")
def postgres_available() -> str:
    async def probe() -> None:
        connection = await asyncpg.connect(POSTGRES_DSN, timeout=3)
        await connection.close()

    try:
        in_own_loop(probe)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        unavailable(f"PostgreSQL at {POSTGRES_DSN}", error)
    return POSTGRES_DSN


@pytest.fixture
def postgres_schema(postgres_available: str) -> Iterator[PostgresSchema]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    # Alembic runs its own event loop, so it too gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(migrate, postgres_available, schema=schema).result()
    try:
        yield PostgresSchema(dsn=postgres_available, schema=schema)
    finally:

        async def drop() -> None:
            connection = await asyncpg.connect(postgres_available)
            try:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await connection.close()

        in_own_loop(drop)


@pytest.fixture(scope="session")
def redis_available() -> str:
    async def probe() -> None:
        client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        in_own_loop(probe)
    except (OSError, ConnectionError) as error:
        unavailable(f"Redis at {REDIS_URL}", error)
    except Exception as error:  # noqa: BLE001 - redis-py raises its own ConnectionError family
        unavailable(f"Redis at {REDIS_URL}", error)
    return REDIS_URL


@pytest.fixture
async def redis_client(redis_available: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_available)
    try:
        yield client
    finally:
        await client.aclose()

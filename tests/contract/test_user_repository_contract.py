"""One contract for every UserRepository: the fake, SQLite, PostgreSQL and the cache layers.

The cached repositories run the same suite over a real store, so a cache that served a stale
user after a save, or hid a uniqueness conflict, fails here exactly like a broken store would.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from order_service.adapters.memory.cached_user_repository import InProcessCachedUserRepository
from order_service.adapters.postgres.database import open_postgres_pool
from order_service.adapters.postgres.user_repository import PostgresUserRepository
from order_service.adapters.redis.cached_user_repository import RedisCachedUserRepository
from order_service.adapters.sqlite.database import open_sqlite
from order_service.adapters.sqlite.user_repository import SqliteUserRepository
from order_service.application.ports import UserRepository
from order_service.domain.ids import new_id
from order_service.domain.users import EmailAlreadyRegistered, Role, User
from tests.conftest import PostgresSchema
from tests.fakes.users import InMemoryUserRepository

KINDS = [
    "fake",
    "sqlite",
    "postgres",
    "in-process-cache(fake)",
    "in-process-cache(sqlite)",
    "redis-cache(postgres)",
    "in-process-cache(redis-cache(postgres))",
]


def a_user(email: str = "ada@example.com", name: str = "Ada") -> User:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    return User(
        id=new_id(),
        email=email,
        name=name,
        password_hash="$argon2id$fake",
        roles=frozenset({Role.CUSTOMER}),
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True)
class Backing:
    """What one kind needs, resolved before the event loop runs (the server fixtures are sync)."""

    kind: str
    postgres: PostgresSchema | None
    redis_url: str | None


@pytest.fixture(params=KINDS)
def backing(request: pytest.FixtureRequest) -> Backing:
    kind: str = request.param
    postgres = request.getfixturevalue("postgres_schema") if "postgres" in kind else None
    redis_url = request.getfixturevalue("redis_available") if "redis" in kind else None
    return Backing(kind, postgres, redis_url)


async def _postgres(stack: AsyncExitStack, schema: PostgresSchema | None) -> UserRepository:
    assert schema is not None
    pool = await stack.enter_async_context(
        open_postgres_pool(schema.dsn, schema=schema.schema, min_size=1, max_size=4, timeout=5)
    )
    return PostgresUserRepository(pool, timeout=5)


async def _sqlite(stack: AsyncExitStack, tmp_path: Path) -> UserRepository:
    from order_service.adapters.migrations import migrate  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'users.db'}"
    await asyncio.to_thread(migrate, url)
    connection = await stack.enter_async_context(open_sqlite(tmp_path / "users.db"))
    return SqliteUserRepository(connection)


async def _redis_cache(
    stack: AsyncExitStack, url: str | None, inner: UserRepository
) -> UserRepository:
    assert url is not None
    redis = Redis.from_url(url)
    prefix = f"test:{uuid.uuid4().hex}:user:"

    async def cleanup() -> None:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    stack.push_async_callback(cleanup)
    return RedisCachedUserRepository(inner, redis, ttl_seconds=60, prefix=prefix)


def _in_process(inner: UserRepository) -> UserRepository:
    return InProcessCachedUserRepository(inner, max_entries=100, ttl_seconds=60)


@pytest.fixture
async def users(backing: Backing, tmp_path: Path) -> AsyncIterator[UserRepository]:
    kind = backing.kind
    async with AsyncExitStack() as stack:
        repository: UserRepository
        if kind == "fake":
            repository = InMemoryUserRepository()
        elif kind == "sqlite":
            repository = await _sqlite(stack, tmp_path)
        elif kind == "postgres":
            repository = await _postgres(stack, backing.postgres)
        elif kind == "in-process-cache(fake)":
            repository = _in_process(InMemoryUserRepository())
        elif kind == "in-process-cache(sqlite)":
            repository = _in_process(await _sqlite(stack, tmp_path))
        elif kind == "redis-cache(postgres)":
            repository = await _redis_cache(
                stack, backing.redis_url, await _postgres(stack, backing.postgres)
            )
        else:
            inner = await _redis_cache(
                stack, backing.redis_url, await _postgres(stack, backing.postgres)
            )
            repository = _in_process(inner)
        yield repository


async def test_a_saved_user_is_found_by_id_and_by_email(users: UserRepository) -> None:
    user = a_user()
    await users.save(user)

    assert await users.get_by_id(user.id) == user
    assert await users.get_by_email(user.email) == user


async def test_unknown_ids_and_emails_are_not_found(users: UserRepository) -> None:
    await users.save(a_user())

    assert await users.get_by_id(uuid.uuid4()) is None
    assert await users.get_by_email("nobody@example.com") is None


async def test_saving_again_updates_the_user_everywhere_at_once(users: UserRepository) -> None:
    user = a_user()
    await users.save(user)
    assert await users.get_by_id(user.id) == user  # a cache now holds the first version

    renamed = User(
        id=user.id,
        email="lovelace@example.com",
        name="Ada Lovelace",
        password_hash="$argon2id$rehashed",
        roles=frozenset({Role.CUSTOMER, Role.ADMIN}),
        created_at=user.created_at,
        updated_at=user.updated_at + timedelta(minutes=1),
    )
    await users.save(renamed)

    found = await users.get_by_id(user.id)
    assert found is not None
    assert (found.email, found.name, found.password_hash, found.roles) == (
        "lovelace@example.com",
        "Ada Lovelace",
        "$argon2id$rehashed",
        frozenset({Role.CUSTOMER, Role.ADMIN}),
    )
    assert await users.get_by_email("lovelace@example.com") == renamed
    assert await users.get_by_email("ada@example.com") is None


async def test_an_email_taken_by_another_user_is_refused(users: UserRepository) -> None:
    first = a_user()
    await users.save(first)

    with pytest.raises(EmailAlreadyRegistered):
        await users.save(a_user(name="Impostor"))
    assert await users.get_by_email(first.email) == first


async def test_two_racing_registrations_of_one_email_leave_exactly_one(
    users: UserRepository,
) -> None:
    one, other = a_user(name="One"), a_user(name="Other")

    outcomes = await asyncio.gather(users.save(one), users.save(other), return_exceptions=True)

    refused = [outcome for outcome in outcomes if isinstance(outcome, EmailAlreadyRegistered)]
    assert len(refused) == 1
    winner = await users.get_by_email("ada@example.com")
    assert winner in (one, other)
    loser = other if winner == one else one
    assert await users.get_by_id(loser.id) is None

"""One suite, every adapter: the fake, SQLite, PostgreSQL and the read caches over them.

The caches (in-process, Redis) run the same suite over a real store, so a cache that served a
user after a save replaced it, or hid a uniqueness conflict, fails here like a broken store.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from order_service.adapters.memory.cached_user_repository import InProcessCachedUserRepository
from order_service.adapters.migrations import migrate
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

NOW = datetime(2026, 11, 24, 12, 30, 15, 123456, tzinfo=UTC)


def a_user(email: str = "ada@example.com", **changes: object) -> User:
    user = User(
        id=new_id(),
        email=email,
        name="Ada Lovelace",
        password_hash="$argon2id$v=19$m=1$x$y",
        roles=frozenset({Role.CUSTOMER}),
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(user, **changes)  # type: ignore[arg-type]


KINDS = [
    "memory",
    "sqlite",
    "postgres",
    "in-process-cache(memory)",
    "in-process-cache(sqlite)",
    "redis-cache(postgres)",
    "in-process-cache(redis-cache(postgres))",
]


async def _store(
    kind: str, request: pytest.FixtureRequest, stack: AsyncExitStack
) -> UserRepository:
    if kind == "memory":
        return InMemoryUserRepository()
    if kind == "sqlite":
        path = request.getfixturevalue("tmp_path") / "users.db"
        await asyncio.to_thread(migrate, f"sqlite:///{path}")
        return SqliteUserRepository(await stack.enter_async_context(open_sqlite(path)))
    schema: PostgresSchema = request.getfixturevalue("postgres_schema")
    pool = await stack.enter_async_context(
        open_postgres_pool(schema.dsn, schema=schema.schema, min_size=1, max_size=4, timeout=5)
    )
    return PostgresUserRepository(pool, timeout=5)


async def _redis_cached(
    inner: UserRepository, request: pytest.FixtureRequest, stack: AsyncExitStack
) -> UserRepository:
    redis = Redis.from_url(request.getfixturevalue("redis_available"))
    prefix = f"test:{uuid.uuid4().hex}:user:"

    async def cleanup() -> None:
        keys = [key async for key in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    stack.push_async_callback(cleanup)
    return RedisCachedUserRepository(inner, redis, ttl_seconds=60, prefix=prefix)


@pytest.fixture(params=KINDS)
async def users(request: pytest.FixtureRequest) -> AsyncIterator[UserRepository]:
    kind: str = request.param
    async with AsyncExitStack() as stack:
        store_kind = kind.rsplit("(", 1)[-1].rstrip(")")
        repository = await _store(store_kind, request, stack)
        if "redis-cache" in kind:
            repository = await _redis_cached(repository, request, stack)
        if kind.startswith("in-process-cache"):
            repository = InProcessCachedUserRepository(repository, max_entries=100, ttl_seconds=60)
        yield repository


async def test_a_saved_user_reads_back_equal_by_id_and_by_email(users: UserRepository) -> None:
    ada = a_user(roles=frozenset({Role.CUSTOMER, Role.ADMIN}))
    await users.save(ada)

    by_id = await users.get_by_id(ada.id)
    by_email = await users.get_by_email("ada@example.com")

    assert by_id == ada
    assert by_email == ada
    assert by_id is not None
    assert by_id.created_at == NOW
    assert by_id.created_at.utcoffset() == timedelta(0)


async def test_missing_users_read_as_none(users: UserRepository) -> None:
    await users.save(a_user())
    assert await users.get_by_id(new_id()) is None
    assert await users.get_by_email("nobody@example.com") is None


async def test_saving_again_updates_the_user(users: UserRepository) -> None:
    ada = a_user()
    await users.save(ada)
    assert await users.get_by_id(ada.id) == ada  # a cache now holds this version
    renamed = replace(
        ada,
        name="Countess of Lovelace",
        password_hash="$argon2id$new",
        updated_at=NOW + timedelta(hours=1),
    )

    await users.save(renamed)

    stored = await users.get_by_id(ada.id)
    assert stored is not None
    assert (stored.name, stored.password_hash) == ("Countess of Lovelace", "$argon2id$new")
    assert stored.updated_at == NOW + timedelta(hours=1)


async def test_a_second_user_with_the_same_email_is_refused(users: UserRepository) -> None:
    await users.save(a_user())
    with pytest.raises(EmailAlreadyRegistered):
        await users.save(a_user())
    assert await users.get_by_email("ada@example.com") is not None


async def test_racing_registrations_of_one_email_store_exactly_one(users: UserRepository) -> None:
    contenders = [a_user() for _ in range(5)]

    results = await asyncio.gather(*(users.save(u) for u in contenders), return_exceptions=True)

    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, EmailAlreadyRegistered) for r in results if r is not None)
    stored = [await users.get_by_id(u.id) for u in contenders]
    assert sum(s is not None for s in stored) == 1


async def test_a_changed_email_is_found_under_the_new_one_only(users: UserRepository) -> None:
    ada = a_user()
    await users.save(ada)
    assert await users.get_by_id(ada.id) == ada
    assert await users.get_by_email("ada@example.com") == ada

    moved = replace(ada, email="lovelace@example.com", roles=frozenset({Role.ADMIN}))
    await users.save(moved)

    assert await users.get_by_id(ada.id) == moved
    assert await users.get_by_email("lovelace@example.com") == moved
    assert await users.get_by_email("ada@example.com") is None

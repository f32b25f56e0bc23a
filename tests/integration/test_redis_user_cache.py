"""The Redis user cache across replicas, and when Redis is gone."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from order_service.adapters.redis.cached_user_repository import RedisCachedUserRepository
from order_service.domain.ids import new_id
from order_service.domain.users import Role, User
from tests.fakes.users import InMemoryUserRepository

pytestmark = pytest.mark.redis


def a_user(name: str = "Ada") -> User:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return User(
        id=new_id(),
        email="ada@example.com",
        name=name,
        password_hash="$argon2id$fake",
        roles=frozenset({Role.CUSTOMER}),
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
async def prefix(redis_client: Redis) -> AsyncIterator[str]:
    prefix = f"test:{uuid.uuid4().hex}:user:"
    yield prefix
    keys = [key async for key in redis_client.scan_iter(match=prefix + "*")]
    if keys:
        await redis_client.delete(*keys)


async def test_a_save_on_one_replica_is_read_by_another_at_once(
    redis_client: Redis, prefix: str
) -> None:
    store = InMemoryUserRepository()  # the shared database
    replica_a = RedisCachedUserRepository(store, redis_client, ttl_seconds=60, prefix=prefix)
    replica_b = RedisCachedUserRepository(store, redis_client, ttl_seconds=60, prefix=prefix)
    user = a_user()
    await replica_a.save(user)
    assert await replica_b.get_by_id(user.id) == user

    renamed = User(
        id=user.id,
        email=user.email,
        name="Ada Lovelace",
        password_hash=user.password_hash,
        roles=user.roles,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )
    await replica_a.save(renamed)

    found = await replica_b.get_by_id(user.id)
    assert found is not None
    assert found.name == "Ada Lovelace"


async def test_reads_are_served_from_redis_once_filled(redis_client: Redis, prefix: str) -> None:
    store = InMemoryUserRepository()
    cache = RedisCachedUserRepository(store, redis_client, ttl_seconds=60, prefix=prefix)
    user = a_user()
    await store.save(user)
    assert await cache.get_by_id(user.id) == user

    store.users.clear()  # the database no longer has it; Redis still does

    assert await cache.get_by_id(user.id) == user
    assert await redis_client.pttl(prefix + str(user.id)) > 0


async def test_reads_and_saves_go_on_when_redis_is_unreachable() -> None:
    store = InMemoryUserRepository()
    dead = Redis(
        host="127.0.0.1",
        port=1,
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    cache = RedisCachedUserRepository(store, dead, ttl_seconds=60)
    user = a_user()
    try:
        await cache.save(user)
        assert await cache.get_by_id(user.id) == user
        assert await store.get_by_id(user.id) == user
    finally:
        await dead.aclose()

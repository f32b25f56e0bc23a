"""A save in one process reaches every other process's in-process user cache at once, over
real Redis pub/sub, and a lost subscription forgets everything rather than serve stale users.

Two "processes" are two cache stacks in this test, each with its own Redis clients, over one
shared store (the database); their in-process TTL is an hour, so only an announcement (or a
resubscription) can explain a fresh read.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from order_service.adapters.memory.cached_user_repository import InProcessCachedUserRepository
from order_service.adapters.redis.cached_user_repository import RedisCachedUserRepository
from order_service.adapters.redis.user_changes import RedisUserChanges
from order_service.domain.ids import new_id
from order_service.domain.users import Role, User
from tests.fakes.users import InMemoryUserRepository

HOUR = 3600.0
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


@dataclass
class Process:
    users: InProcessCachedUserRepository
    shared: RedisCachedUserRepository
    subscriber_name: str  # the client name of its subscription's connection
    subscribed: asyncio.Event


@dataclass
class Fleet:
    store: InMemoryUserRepository
    a: Process
    b: Process
    unannounced: RedisCachedUserRepository  # a save whose announcement gets lost


@pytest.fixture
async def fleet(redis_available: str) -> AsyncIterator[Fleet]:
    channel = f"test:{uuid.uuid4().hex}:user-changed"
    prefix = f"test:{uuid.uuid4().hex}:user:"
    store = InMemoryUserRepository()
    # The stack closes first (cancelling the followers), then the group waits for them.
    async with asyncio.TaskGroup() as group, AsyncExitStack() as stack:

        def client(name: str | None = None) -> Redis:
            redis = Redis.from_url(redis_available, client_name=name)
            stack.push_async_callback(redis.aclose)
            return redis

        def process() -> Process:
            subscriber_name = f"test-subscriber-{uuid.uuid4().hex}"
            redis, subscriber = client(), client(subscriber_name)
            changes = RedisUserChanges(redis, subscriber, channel=channel, reconnect_seconds=0.05)
            shared = RedisCachedUserRepository(
                store, redis, ttl_seconds=HOUR, prefix=prefix, announce=changes.publish
            )
            users = InProcessCachedUserRepository(shared, max_entries=100, ttl_seconds=HOUR)
            subscribed = asyncio.Event()

            def lost() -> None:
                users.forget_all()
                subscribed.set()

            follower = group.create_task(changes.follow(users.forget, lost))
            stack.callback(follower.cancel)
            return Process(users, shared, subscriber_name, subscribed)

        a, b = process(), process()
        unannounced = RedisCachedUserRepository(store, client(), ttl_seconds=HOUR, prefix=prefix)
        await asyncio.wait_for(asyncio.gather(a.subscribed.wait(), b.subscribed.wait()), 5)
        yield Fleet(store, a, b, unannounced)


def a_user(name: str) -> User:
    return User(
        new_id(),
        f"{uuid.uuid4().hex[:8]}@example.com",
        name,
        "hash",
        frozenset({Role.CUSTOMER}),
        NOW,
        NOW,
    )


async def eventually(read: Callable[[], Awaitable[object]], expected: object) -> object:
    """Read until `expected` comes back, for at most 5 s; the last value read."""
    deadline = asyncio.get_running_loop().time() + 5
    value = await read()
    while value != expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
        value = await read()
    return value


async def name_in(process: Process, user_id: uuid.UUID) -> str | None:
    user = await process.users.get_by_id(user_id)
    return None if user is None else user.name


async def test_a_save_in_one_process_is_seen_by_the_other_long_before_its_ttl(
    fleet: Fleet,
) -> None:
    user = a_user("Ada")
    await fleet.store.save(user)  # registered before either process started
    assert await name_in(fleet.b, user.id) == "Ada"  # b now holds Ada for an hour

    await fleet.a.users.save(replace(user, name="Ada Lovelace"))

    assert await eventually(lambda: name_in(fleet.b, user.id), "Ada Lovelace") == "Ada Lovelace"
    assert await name_in(fleet.a, user.id) == "Ada Lovelace"


async def test_a_lost_subscription_forgets_every_user_when_it_comes_back(
    fleet: Fleet, redis_client: Redis
) -> None:
    user = a_user("Grace")
    await fleet.store.save(user)
    assert await name_in(fleet.b, user.id) == "Grace"
    # Saved by a process whose announcement never arrives: b keeps its copy...
    await fleet.unannounced.save(replace(user, name="Grace Hopper"))
    assert await name_in(fleet.b, user.id) == "Grace"

    # ...until b's subscription drops; b resubscribes and, not knowing what it missed,
    # forgets everything.
    fleet.b.subscribed.clear()
    connections = await redis_client.client_list(_type="pubsub")
    [connection] = [c for c in connections if c["name"] == fleet.b.subscriber_name]
    assert await redis_client.client_kill_filter(_id=connection["id"]) == 1
    await asyncio.wait_for(fleet.b.subscribed.wait(), 5)

    assert await name_in(fleet.b, user.id) == "Grace Hopper"

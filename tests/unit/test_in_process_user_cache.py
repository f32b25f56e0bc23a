"""The in-process user cache: what it serves from memory, for how long, and what it never keeps."""

import asyncio
import gc
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from order_service.adapters.memory.cached_user_repository import InProcessCachedUserRepository
from order_service.domain.ids import new_id
from order_service.domain.users import Role, User
from tests.fakes.users import FakeMonotonic, InMemoryUserRepository


def a_user(name: str = "Ada", email: str | None = None) -> User:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return User(
        id=new_id(),
        email=email or f"{uuid.uuid4().hex[:8]}@example.com",
        name=name,
        password_hash="$argon2id$fake",
        roles=frozenset({Role.CUSTOMER}),
        created_at=now,
        updated_at=now,
    )


def renamed(user: User, name: str) -> User:
    return replace(user, name=name)


async def name_read(cache: InProcessCachedUserRepository, user_id: uuid.UUID) -> str:
    found = await cache.get_by_id(user_id)
    assert found is not None
    return found.name


async def test_a_change_made_by_another_process_is_seen_once_the_ttl_has_passed() -> None:
    store, clock = InMemoryUserRepository(), FakeMonotonic()
    cache = InProcessCachedUserRepository(store, max_entries=10, ttl_seconds=5, monotonic=clock)
    user = a_user()
    await store.save(user)
    assert await cache.get_by_id(user.id) == user

    # Another replica writes to the shared store, not through this cache.
    await store.save(renamed(user, "Ada Lovelace"))

    clock.advance(4.9)
    assert await name_read(cache, user.id) == "Ada"
    clock.advance(0.2)
    assert await name_read(cache, user.id) == "Ada Lovelace"


async def test_the_least_recently_read_user_is_evicted_beyond_the_bound() -> None:
    store = InMemoryUserRepository()
    cache = InProcessCachedUserRepository(store, max_entries=2, ttl_seconds=60)
    first, second, third = a_user("first"), a_user("second"), a_user("third")
    for user in (first, second, third):
        await store.save(user)
    await cache.get_by_id(first.id)
    await cache.get_by_id(second.id)
    await cache.get_by_id(first.id)  # first is now the most recently read
    await cache.get_by_id(third.id)  # evicts second

    for user in (first, second, third):
        await store.save(renamed(user, "changed behind the cache"))
    # Read the cached ones first: the miss on `second` refills and evicts again.
    names = {user.id: await name_read(cache, user.id) for user in (third, first, second)}
    assert [names[user.id] for user in (first, second, third)] == [
        "first",
        "changed behind the cache",
        "third",
    ]


class SlowStore(InMemoryUserRepository):
    """A store whose reads wait until released: a read in flight while a save happens."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.reading = asyncio.Event()

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        found = self.users.get(user_id)  # the row as it is when the query runs
        self.reading.set()
        await self.release.wait()
        return found


async def test_a_read_racing_a_save_does_not_put_the_old_user_back() -> None:
    store = SlowStore()
    cache = InProcessCachedUserRepository(store, max_entries=10, ttl_seconds=60)
    user = a_user()
    await store.save(user)

    async with asyncio.TaskGroup() as group:
        stale_read = group.create_task(cache.get_by_id(user.id))
        await store.reading.wait()
        await cache.save(renamed(user, "Ada Lovelace"))
        store.release.set()
    began_before_the_save = await stale_read
    assert began_before_the_save is not None
    assert began_before_the_save.name == "Ada"

    assert await name_read(cache, user.id) == "Ada Lovelace"


async def test_unknown_ids_are_not_remembered() -> None:
    store = InMemoryUserRepository()
    cache = InProcessCachedUserRepository(store, max_entries=10, ttl_seconds=60)
    user = a_user()
    assert await cache.get_by_id(user.id) is None

    await store.save(user)  # registered by another replica a moment later

    assert await cache.get_by_id(user.id) == user


class RowStore(InMemoryUserRepository):
    """Builds a new User per read, as the SQL stores do, so only the cache can keep one alive."""

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        found = self.users.get(user_id)
        return None if found is None else replace(found, id=uuid.UUID(int=user_id.int))


async def test_a_hit_returns_the_user_with_every_field_as_stored() -> None:
    store = RowStore()
    cache = InProcessCachedUserRepository(store, max_entries=10, ttl_seconds=60)
    admin = replace(
        a_user(),
        roles=frozenset({Role.CUSTOMER, Role.ADMIN}),
        updated_at=datetime(2026, 2, 1, tzinfo=UTC),  # not part of User equality
    )
    await store.save(admin)
    await cache.get_by_id(admin.id)
    store.users.clear()  # a second read can only come from the cache

    hit = await cache.get_by_id(admin.id)

    assert hit == admin
    assert hit is not None
    assert (hit.updated_at, hit.is_admin) == (admin.updated_at, True)


async def test_cached_users_are_nothing_the_garbage_collector_must_walk() -> None:
    # Full collections walk every tracked object; a cache of 10,000 users used to add 20,000.
    store = RowStore()
    cache = InProcessCachedUserRepository(store, max_entries=2_000, ttl_seconds=60)
    users = [a_user(f"user {n}") for n in range(1_000)]
    for user in users:
        await store.save(user)
    ids = [user.id for user in users]
    gc.collect()
    tracked_before = len(gc.get_objects())

    for user_id in ids:
        await cache.get_by_id(user_id)
    store.users.clear()
    del users
    gc.collect()

    # The store's 1,000 users are gone (-1,000); the cache's entries add nothing tracked.
    assert len(gc.get_objects()) - tracked_before < -900
    hits = [await cache.get_by_id(user_id) for user_id in ids]  # and still serves them all
    assert [hit.id for hit in hits if hit is not None] == ids

"""`python -m bench.gc_pauses`: what one collection costs in the service's process shape.

Deterministic where the load runs are noisy: import the service, fill its own caches to the
benchmark's size (16,384 verified tokens, 10,000 users), and time `gc.collect()` (a full,
gen-2 collection) with and without `gc.freeze()`; then the same with the caches' former layout
(a User or Principal object and its UUID per entry, which every full collection walked) held
alongside, for comparison in one run; then what a cache hit costs in each layout, and young
collections at several gen-0 thresholds. Times are the thread's CPU time (so time the process
spent descheduled on a shared machine does not count); the median of several repetitions.
"""

import asyncio
import gc
import statistics
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import order_service.bootstrap  # noqa: F401 - the modules a running service has loaded
from order_service.adapters.crypto.jwt_tokens import JwtTokens, KeyRing, SigningKey
from order_service.adapters.memory.cached_user_repository import InProcessCachedUserRepository
from order_service.adapters.user_rows import user_from_row
from order_service.application.ports import Principal
from order_service.domain.users import Role, User

TOKENS = 16_384
USERS = 10_000


def _full_collection_ms() -> float:
    times = []
    for _ in range(5):
        started = time.thread_time()
        gc.collect()
        times.append((time.thread_time() - started) * 1000)
    return statistics.median(times)


def _young_collection_ms(threshold: int) -> float:
    """A gen-0 collection over `threshold` fresh container objects (what one pass scans)."""
    times = []
    for _ in range(5):
        young: list[list[int]] = [[] for _ in range(threshold)]
        started = time.thread_time()
        gc.collect(0)
        times.append((time.thread_time() - started) * 1000)
        del young
    return statistics.median(times)


def _per_call_us(call: Callable[[], object], calls: int = 20_000) -> float:
    times = []
    for _ in range(7):
        started = time.thread_time()
        for _ in range(calls):
            call()
        times.append((time.thread_time() - started) / calls * 1e6)
    return statistics.median(times)


class _RowStore:
    """Builds a User per read, as the SQL stores do (no database needed to count objects)."""

    def __init__(self, rows: dict[uuid.UUID, tuple[str, str]]) -> None:
        self._rows = rows
        self._now = datetime.now(UTC)

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        email, name = self._rows[user_id]
        return user_from_row(str(user_id), email, name, "h", "customer", self._now, self._now)

    async def get_by_email(self, email: str) -> User | None:  # noqa: ARG002 - not needed here
        return None

    async def save(self, user: User) -> None:
        self._rows[user.id] = (user.email, user.name)


def now() -> datetime:
    return datetime.now(UTC)


def _caches(
    rows: dict[uuid.UUID, tuple[str, str]], keys: KeyRing
) -> tuple[JwtTokens, InProcessCachedUserRepository]:
    """The service's own caches, empty, as the wiring makes them (before its gc.freeze())."""
    tokens = JwtTokens(
        keys=keys, issuer="order-service", audience="order-service", ttl_seconds=3600, clock=now
    )
    users = InProcessCachedUserRepository(_RowStore(rows), max_entries=16_384, ttl_seconds=3600)
    return tokens, users


def _fill(
    tokens: JwtTokens, users: InProcessCachedUserRepository, issued: list[str], ids: list[uuid.UUID]
) -> None:
    """Fill the caches as the benchmark's requests do."""
    for token in issued:
        tokens.verify(token)

    async def fill() -> None:
        for user_id in ids:
            await users.get_by_id(user_id)

    asyncio.run(fill())


class _FormerLayout:
    """The caches as they were: a User per user id and a Principal per token, each holding a
    UUID, with their expiry instants in side dicts; and their hit paths as they were."""

    def __init__(self, issued: list[str], ids: list[uuid.UUID]) -> None:
        self.users: OrderedDict[uuid.UUID, User] = OrderedDict()
        self.fresh_until: dict[uuid.UUID, float] = {}
        self.verified: OrderedDict[str, Principal] = OrderedDict()
        self.valid_until: dict[str, float] = {}
        self.fill(issued, ids)

    def fill(self, issued: list[str], ids: list[uuid.UUID]) -> None:
        created = now()
        customer = frozenset({Role.CUSTOMER})
        for n, user_id in enumerate(ids):
            row = (str(user_id), f"u{n}@b.example", "n", "h", "customer", created, created)
            user = user_from_row(*row)
            self.users[user.id] = user
            self.fresh_until[user.id] = time.monotonic() + 3600
        for token in issued:
            self.verified[token] = Principal(uuid.uuid4(), customer)
            self.valid_until[token] = created.timestamp() + 3600

    def verify(self, token: str) -> Principal:
        cached = self.verified.get(token)
        if cached is not None and now().timestamp() <= self.valid_until[token]:
            self.verified.move_to_end(token)
            return cached
        raise AssertionError("a miss")

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        cached = self.users.get(user_id)
        if cached is not None and time.monotonic() < self.fresh_until[user_id]:
            self.users.move_to_end(user_id)
            return cached
        raise AssertionError("a miss")


def _hit(
    read: Callable[[uuid.UUID], Coroutine[Any, Any, User | None]], user_id: uuid.UUID
) -> object:
    """One cache hit without an event loop: a hit never awaits, so one send() finishes it."""
    step = read(user_id)
    try:
        step.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("a cache hit awaited")


def main() -> None:
    gc.disable()
    print(f"tracked after start-up: {len(gc.get_objects())}")  # noqa: T201
    print(f"full collection, start-up objects: {_full_collection_ms():.2f} ms")  # noqa: T201
    keys = KeyRing([SigningKey.from_private_key(Ed25519PrivateKey.generate())])
    signer = JwtTokens(
        keys=keys, issuer="order-service", audience="order-service", ttl_seconds=3600, clock=now
    )
    customer = frozenset({Role.CUSTOMER})
    issued = [signer.issue(Principal(uuid.uuid4(), customer)).access_token for _ in range(TOKENS)]
    rows = {uuid.uuid4(): (f"u{n}@b.example", "n") for n in range(USERS)}
    ids = [uuid.UUID(str(user_id)) for user_id in rows]  # as a request's id arrives
    tokens, users = _caches(rows, keys)
    gc.collect()
    gc.freeze()  # start-up with the wiring, as the service does; and the benchmark's inputs
    print(f"full collection, start-up frozen: {_full_collection_ms():.3f} ms")  # noqa: T201
    _fill(tokens, users, issued, ids)
    gc.collect()
    print(  # noqa: T201
        f"caches full ({TOKENS} tokens, {USERS} users): {len(gc.get_objects())} objects "
        f"tracked, full collection {_full_collection_ms():.3f} ms"
    )
    del tokens, users
    former = _FormerLayout(issued[:0], ids[:0])  # its containers, frozen as the wiring's were
    gc.collect()
    gc.freeze()
    former.fill(issued, ids)
    gc.collect()
    print(  # noqa: T201
        f"the former layout, same entries: {len(gc.get_objects())} objects tracked, "
        f"full collection {_full_collection_ms():.3f} ms"
    )
    tokens, users = _caches(rows, keys)
    _fill(tokens, users, issued[:1], ids[:1])
    token, user_id = issued[0], ids[0]
    print(  # noqa: T201
        f"token cache hit: {_per_call_us(lambda: tokens.verify(token)):.2f} µs; "
        f"former layout: {_per_call_us(lambda: former.verify(token)):.2f} µs"
    )
    print(  # noqa: T201
        f"user cache hit: {_per_call_us(lambda: _hit(users.get_by_id, user_id)):.2f} µs; "
        f"former layout: {_per_call_us(lambda: _hit(former.get_by_id, user_id)):.2f} µs"
    )
    for threshold in (700, 5_000, 20_000):
        print(f"young collection of {threshold} objects: {_young_collection_ms(threshold):.3f} ms")  # noqa: T201


if __name__ == "__main__":
    main()

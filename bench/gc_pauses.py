"""`python -m bench.gc_pauses`: what one full collection costs in the service's process shape.

Deterministic where the load runs are noisy: import the service, fill its own caches to the
benchmark's size (16,384 verified tokens, 10,000 users), and time `gc.collect()` (a full, gen-2
collection) with and without `gc.freeze()`; then time young collections at several gen-0
thresholds. Prints milliseconds of the thread's CPU time (so time the process spent
descheduled on a shared machine does not count); the median of five collections each.
"""

import asyncio
import gc
import statistics
import time
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import order_service.bootstrap  # noqa: F401 - the modules a running service has loaded
from order_service.adapters.crypto.jwt_tokens import JwtTokens, KeyRing, SigningKey
from order_service.adapters.memory.cached_user_repository import InProcessCachedUserRepository
from order_service.adapters.user_rows import user_from_row
from order_service.application.ports import Principal
from order_service.domain.users import Role, User


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


class _Store:
    """The users the cache reads through to (a dict: no database needed to count objects)."""

    def __init__(self, users: dict[uuid.UUID, User]) -> None:
        self._users = users

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        return self._users.get(user_id)

    async def get_by_email(self, email: str) -> User | None:  # noqa: ARG002 - not needed here
        return None

    async def save(self, user: User) -> None:
        self._users[user.id] = user


def _full_caches() -> tuple[JwtTokens, InProcessCachedUserRepository]:
    """The service's own caches, filled as the benchmark fills them."""
    tokens = JwtTokens(
        keys=KeyRing([SigningKey.from_private_key(Ed25519PrivateKey.generate())]),
        issuer="order-service",
        audience="order-service",
        ttl_seconds=3600,
        clock=lambda: datetime.now(UTC),
    )
    customer = frozenset({Role.CUSTOMER})
    for _ in range(16_384):
        tokens.verify(tokens.issue(Principal(uuid.uuid4(), customer)).access_token)
    now = datetime.now(UTC)
    stored = {}
    for n in range(10_000):
        user_id = uuid.uuid4()
        stored[user_id] = user_from_row(user_id, f"u{n}@b.example", "n", "h", "customer", now, now)
    users = InProcessCachedUserRepository(_Store(stored), max_entries=16_384, ttl_seconds=60)

    async def fill() -> None:
        for user_id in list(stored):
            await users.get_by_id(uuid.UUID(str(user_id)))  # as a request's id arrives

    asyncio.run(fill())
    return tokens, users


def main() -> None:
    gc.disable()
    print(f"tracked after start-up: {len(gc.get_objects())}")  # noqa: T201
    print(f"full collection, start-up objects: {_full_collection_ms():.2f} ms")  # noqa: T201
    gc.freeze()
    print(f"full collection, start-up frozen: {_full_collection_ms():.2f} ms")  # noqa: T201
    caches = _full_caches()
    print(f"tracked with full caches: {len(gc.get_objects())}")  # noqa: T201
    print(f"full collection, full caches: {_full_collection_ms():.2f} ms")  # noqa: T201
    for threshold in (700, 5_000, 20_000):
        print(f"young collection of {threshold} objects: {_young_collection_ms(threshold):.3f} ms")  # noqa: T201
    del caches


if __name__ == "__main__":
    main()

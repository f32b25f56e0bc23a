"""`python -m bench.gc_pauses`: what one full collection costs in the service's process shape.

Deterministic where the load runs are noisy: import the service, build caches the size of the
benchmark's (16,384 verified tokens, 10,000 users), and time `gc.collect()` (a full, gen-2
collection) with and without `gc.freeze()`; then time young collections at several gen-0
thresholds. Prints milliseconds; the median of five collections each.
"""

import gc
import statistics
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime

import order_service.bootstrap  # noqa: F401 - the modules a running service has loaded
from order_service.application.ports import Principal
from order_service.domain.users import Role, User


def _full_collection_ms() -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _young_collection_ms(threshold: int) -> float:
    """A gen-0 collection over `threshold` fresh container objects (what one pass scans)."""
    times = []
    for _ in range(5):
        young: list[list[int]] = [[] for _ in range(threshold)]
        started = time.perf_counter()
        gc.collect(0)
        times.append((time.perf_counter() - started) * 1000)
        del young
    return statistics.median(times)


def main() -> None:
    gc.disable()
    print(f"tracked after start-up: {len(gc.get_objects())}")  # noqa: T201
    print(f"full collection, start-up objects: {_full_collection_ms():.2f} ms")  # noqa: T201
    gc.freeze()
    print(f"full collection, start-up frozen: {_full_collection_ms():.2f} ms")  # noqa: T201
    tokens: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
    users: OrderedDict[uuid.UUID, tuple[User, float]] = OrderedDict()
    now = datetime.now(UTC)
    roles = frozenset({Role.CUSTOMER})
    for n in range(16_384):
        tokens[f"token-{n}"] = (Principal(uuid.uuid4(), frozenset(roles)), 0.0)
    for _ in range(10_000):
        user_id = uuid.uuid4()
        users[user_id] = (User(user_id, "a@b.example", "n", "h", frozenset(roles), now, now), 0.0)
    print(f"tracked with full caches: {len(gc.get_objects())}")  # noqa: T201
    print(f"full collection, full caches: {_full_collection_ms():.2f} ms")  # noqa: T201
    for threshold in (700, 5_000, 20_000):
        print(f"young collection of {threshold} objects: {_young_collection_ms(threshold):.3f} ms")  # noqa: T201


if __name__ == "__main__":
    main()

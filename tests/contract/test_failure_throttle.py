"""The in-process and Redis throttles count, limit and reset the same way."""

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from order_service.adapters.memory.failure_throttle import InProcessFailureThrottle
from order_service.adapters.redis.failure_throttle import RedisFailureThrottle
from order_service.application.ports import FailureThrottle, ThrottleKey
from order_service.domain.errors import Unavailable
from tests.fakes.users import FakeMonotonic

WINDOW = 60.0


@pytest.fixture(params=["in-process", "redis"])
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[FailureThrottle]:
    if request.param == "in-process":
        yield InProcessFailureThrottle(window_seconds=WINDOW)
    else:
        client = Redis.from_url(request.getfixturevalue("redis_available"))
        prefix = f"test:{uuid.uuid4().hex}:"
        try:
            yield RedisFailureThrottle(client, window_seconds=WINDOW, prefix=prefix)
        finally:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


EMAIL = ThrottleKey("email:ada@example.com", max_failures=3)
CLIENT = ThrottleKey("client:10.0.0.1", max_failures=5)


async def test_below_the_limit_nobody_waits(throttle: FailureThrottle) -> None:
    for _ in range(2):
        await throttle.record_failure([EMAIL])
    assert await throttle.retry_after([EMAIL]) == 0


async def test_at_the_limit_the_key_waits_for_at_most_the_window(throttle: FailureThrottle) -> None:
    for _ in range(3):
        await throttle.record_failure([EMAIL, CLIENT])

    wait = await throttle.retry_after([EMAIL, CLIENT])

    assert 0 < wait <= WINDOW
    assert await throttle.retry_after([CLIENT]) == 0  # the client's own limit is higher


async def test_keys_are_counted_separately(throttle: FailureThrottle) -> None:
    for _ in range(3):
        await throttle.record_failure([EMAIL])
    other = ThrottleKey("email:bob@example.com", max_failures=3)
    assert await throttle.retry_after([other]) == 0


async def test_reset_clears_one_key(throttle: FailureThrottle) -> None:
    for _ in range(3):
        await throttle.record_failure([EMAIL, ThrottleKey("client:x", 3)])

    await throttle.reset(EMAIL.key)

    assert await throttle.retry_after([EMAIL]) == 0
    assert await throttle.retry_after([ThrottleKey("client:x", 3)]) > 0


async def test_in_process_windows_end_and_counting_starts_again() -> None:
    clock = FakeMonotonic()
    throttle = InProcessFailureThrottle(window_seconds=WINDOW, monotonic=clock)
    for _ in range(3):
        await throttle.record_failure([EMAIL])
    clock.advance(WINDOW + 1)

    assert await throttle.retry_after([EMAIL]) == 0
    await throttle.record_failure([EMAIL])
    assert await throttle.retry_after([EMAIL]) == 0


async def test_in_process_memory_is_bounded_by_forgetting_the_oldest_keys() -> None:
    throttle = InProcessFailureThrottle(window_seconds=WINDOW, max_keys=10)
    for n in range(100):
        await throttle.record_failure([ThrottleKey(f"client:{n}", 1)])
    assert await throttle.retry_after([ThrottleKey("client:0", 1)]) == 0
    assert await throttle.retry_after([ThrottleKey("client:99", 1)]) > 0


async def test_redis_down_is_unavailable_not_a_free_pass() -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    throttle = RedisFailureThrottle(dead, window_seconds=WINDOW)
    try:
        with pytest.raises(Unavailable):
            await throttle.retry_after([EMAIL])
        with pytest.raises(Unavailable):
            await throttle.record_failure([EMAIL])
    finally:
        await dead.aclose()

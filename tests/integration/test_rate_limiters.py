"""The rate limiters: one schedule in process and on Redis, and the fallback when Redis is gone."""

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from order_service.adapters.memory.rate_limiter import InProcessRateLimiter
from order_service.adapters.redis.rate_limiter import RedisRateLimiter
from order_service.application.order_ports import RateLimiter
from order_service.domain.providers import Provider
from tests.fakes.users import FakeMonotonic
from tests.service_process import free_port

PROVIDER = Provider(
    id="acme",
    endpoint="http://acme",
    regions=frozenset({"*"}),
    skus=frozenset({"*"}),
    cost=1,
    rate_per_second=10,
    burst=4,  # the limiter leaves it to absorb jitter
    max_in_flight=4,
    timeout_seconds=1,
)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """Synchronous, so the Redis probe (its own event loop) runs before the async fixture."""
    return request.getfixturevalue("redis_available") if request.param == "redis" else None


@pytest.fixture
async def limiter(backend: str | None) -> AsyncIterator[RateLimiter]:
    if backend is None:
        yield InProcessRateLimiter(clock=FakeMonotonic())
        return
    client = Redis.from_url(backend)
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    try:
        yield RedisRateLimiter(client, fallback=InProcessRateLimiter(), prefix=prefix)
    finally:
        await client.delete(f"{prefix}acme")
        await client.aclose()


async def test_slots_follow_the_rate(limiter: RateLimiter) -> None:
    slots = [await limiter.reserve(PROVIDER, max_wait=1.0) for _ in range(6)]
    assert all(slot.granted for slot in slots)
    # Redis's clock moves a little between calls; the in-process fake clock does not.
    waits = [slot.wait for slot in slots]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5], abs=0.02)


async def test_a_slot_beyond_the_max_wait_is_refused_and_not_taken(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.reserve(PROVIDER, max_wait=1.0)
    refused = await limiter.reserve(PROVIDER, max_wait=0.05)
    assert not refused.granted
    assert refused.wait == pytest.approx(0.3, abs=0.02)
    taken = await limiter.reserve(PROVIDER, max_wait=1.0)
    assert taken.wait == pytest.approx(0.3, abs=0.02)


async def test_without_redis_the_limiter_falls_back_to_a_local_share_and_says_so() -> None:
    changes: list[tuple[str, bool]] = []
    unreachable = Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    limiter = RedisRateLimiter(
        unreachable,
        fallback=InProcessRateLimiter(share=0.5, clock=FakeMonotonic()),
        on_fallback=lambda provider_id, *, active: changes.append((provider_id, active)),
    )
    try:
        slots = [await limiter.reserve(PROVIDER, max_wait=1.0) for _ in range(4)]
    finally:
        await unreachable.aclose()
    # Half the rate: 5/s, so 0.2 s apart.
    assert [round(s.wait, 6) for s in slots] == [0.0, 0.2, 0.4, 0.6]
    assert changes == [("acme", True)]

"""RateLimiter shared by every process and replica: GCRA in one Redis script.

Slots are reserved on Redis's clock (TIME inside the script), so the fleet's sends follow one
schedule whatever the clocks of the worker machines say. When Redis cannot be reached, each
process falls back to a local limiter at a fraction of the rate, logs it and sets a gauge.
"""

import logging
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_service.adapters.memory.rate_limiter import InProcessRateLimiter
from order_service.application.order_ports import Slot
from order_service.domain.providers import Provider

_log = logging.getLogger(__name__)

# The same arithmetic as domain.resilience.gcra_reserve, in microseconds.
_RESERVE = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local slot = math.max(now, tat - tolerance)
local wait = slot - now
if wait > max_wait then return {0, wait} end
local new_tat = tat + interval
local ttl_ms = math.floor((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, wait}
"""


class FallbackListener(Protocol):
    """Told when a provider's limiter falls back to local limiting, and when it recovers."""

    def __call__(self, provider_id: str, *, active: bool) -> None: ...


class RedisRateLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        fallback: InProcessRateLimiter,
        prefix: str = "ratelimit:",
        on_fallback: FallbackListener | None = None,
    ) -> None:
        self._redis = redis
        self._fallback = fallback
        self._prefix = prefix
        self._script = redis.register_script(_RESERVE)
        self._on_fallback = on_fallback
        self._degraded: set[str] = set()

    async def reserve(self, provider: Provider, *, max_wait: float) -> Slot:
        interval = round(1_000_000 / provider.rate_per_second)
        tolerance = (provider.send_burst - 1) * interval
        try:
            granted, wait_us = await self._script(
                keys=[f"{self._prefix}{provider.id}"],
                args=[interval, tolerance, round(max_wait * 1_000_000)],
            )
        except (RedisError, OSError, TimeoutError) as error:
            self._degrade(provider.id, error)
            return await self._fallback.reserve(provider, max_wait=max_wait)
        if provider.id in self._degraded:
            self._degraded.discard(provider.id)
            _log.warning("rate limiter back on Redis", extra={"provider": provider.id})
            if self._on_fallback:
                self._on_fallback(provider.id, active=False)
        return Slot(wait=int(wait_us) / 1_000_000, granted=bool(granted))

    def _degrade(self, provider_id: str, error: BaseException) -> None:
        if provider_id in self._degraded:
            return
        self._degraded.add(provider_id)
        _log.warning(
            "Redis unreachable: rate limiting locally at a conservative share of the limit",
            extra={"provider": provider_id, "error": f"{type(error).__name__}: {error}"},
        )
        if self._on_fallback:
            self._on_fallback(provider_id, active=True)

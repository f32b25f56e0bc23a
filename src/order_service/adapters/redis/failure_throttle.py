"""FailureThrottle shared by every process and replica, in Redis."""

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_service.application.ports import ThrottleKey
from order_service.domain.errors import Unavailable

# INCR and the window's expiry in one step, so a crash between them cannot leave a counter
# that never expires.
_RECORD = """
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
"""


class RedisFailureThrottle:
    """The same fixed-window semantics as InProcessFailureThrottle, one window per key fleet-wide.

    Redis faults raise Unavailable: a log-in that cannot be throttled is refused, not let through.
    """

    def __init__(self, redis: Redis, *, window_seconds: float, prefix: str = "throttle:") -> None:
        self._redis = redis
        self._window_ms = int(window_seconds * 1000)
        self._prefix = prefix
        self._record = redis.register_script(_RECORD)

    async def retry_after(self, keys: Sequence[ThrottleKey]) -> float:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for throttle_key in keys:
                    pipe.get(self._prefix + throttle_key.key)
                    pipe.pttl(self._prefix + throttle_key.key)
                replies = await pipe.execute()
        except RedisError as error:
            raise Unavailable("the log-in throttle is unavailable") from error
        wait_ms = 0
        for index, throttle_key in enumerate(keys):
            count, ttl_ms = replies[2 * index], replies[2 * index + 1]
            if count is not None and int(count) >= throttle_key.max_failures and ttl_ms > 0:
                wait_ms = max(wait_ms, ttl_ms)
        return wait_ms / 1000

    async def record_failure(self, keys: Sequence[ThrottleKey]) -> None:
        try:
            await self._record(keys=[self._prefix + k.key for k in keys], args=[self._window_ms])
        except RedisError as error:
            raise Unavailable("the log-in throttle is unavailable") from error

    async def reset(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except RedisError as error:
            raise Unavailable("the log-in throttle is unavailable") from error

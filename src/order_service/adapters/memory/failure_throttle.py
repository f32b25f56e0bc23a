"""The embedded default's FailureThrottle: fixed windows per key, in this process only."""

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from order_service.application.ports import ThrottleKey


class InProcessFailureThrottle:
    """Counts failures per key in a window that starts at the key's first failure.

    Bounded: at most `max_keys` keys are tracked; the least recently failed are forgotten
    first, so a flood of distinct keys costs memory, not correctness for active ones.
    """

    def __init__(
        self,
        *,
        window_seconds: float,
        max_keys: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window_seconds
        self._max_keys = max_keys
        self._now = monotonic
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (count, ends)

    async def retry_after(self, keys: Sequence[ThrottleKey]) -> float:
        now = self._now()
        wait = 0.0
        for throttle_key in keys:
            count, ends = self._failures.get(throttle_key.key, (0, 0.0))
            if ends > now and count >= throttle_key.max_failures:
                wait = max(wait, ends - now)
        return wait

    async def record_failure(self, keys: Sequence[ThrottleKey]) -> None:
        now = self._now()
        for throttle_key in keys:
            count, ends = self._failures.pop(throttle_key.key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + self._window
            self._failures[throttle_key.key] = (count + 1, ends)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    async def reset(self, key: str) -> None:
        self._failures.pop(key, None)

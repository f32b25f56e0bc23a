"""RateLimiter for one process: GCRA (a token bucket) per provider, in memory."""

import time

from order_service.application.order_ports import Slot
from order_service.domain.providers import Provider
from order_service.domain.resilience import MonotonicClock, gcra_reserve


class InProcessRateLimiter:
    """Send slots per provider for the coroutines of this process only.

    `share` scales every provider's rate: 1.0 for the embedded default; a fraction when this
    limiter stands in for the fleet-wide one and other processes may be sending too.
    """

    def __init__(self, *, share: float = 1.0, clock: MonotonicClock = time.monotonic) -> None:
        self._share = share
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def reserve(self, provider: Provider, *, max_wait: float) -> Slot:
        reservation = gcra_reserve(
            self._tat.get(provider.id),
            self._clock(),
            rate=provider.rate_per_second * self._share,
            burst=provider.send_burst,
            max_wait=max_wait,
        )
        if reservation.tat is None:
            return Slot(wait=reservation.wait, granted=False)
        self._tat[provider.id] = reservation.tat
        return Slot(wait=reservation.wait, granted=True)

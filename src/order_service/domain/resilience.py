"""Calling a third party without hurting it or us: rate slots, backoff, a circuit breaker.

Pure functions and a small state machine over an injected monotonic clock, so each rule is
tested with a fake clock. The Redis limiter runs `gcra_reserve` as the same arithmetic in Lua.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

MonotonicClock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Reservation:
    """`wait` seconds until the reserved slot; `tat` is the limiter's new state (None: refused)."""

    wait: float
    tat: float | None


def gcra_reserve(
    tat: float | None, now: float, *, rate: float, burst: int, max_wait: float
) -> Reservation:
    """Reserve the next send slot under the generic cell rate algorithm (a token bucket).

    `tat` is the theoretical arrival time after the last reserved slot. A request may go at
    `tat - tolerance`, where the tolerance lets `burst` requests go back to back. The slot is
    reserved only if it is at most `max_wait` away; otherwise nothing changes and `wait` says how
    long until a slot would be free, so the caller can come back later instead of queueing.
    """
    interval = 1.0 / rate
    tolerance = (burst - 1) * interval
    current = now if tat is None or tat < now else tat
    slot = max(now, current - tolerance)
    wait = slot - now
    if wait > max_wait:
        return Reservation(wait=wait, tat=None)
    return Reservation(wait=wait, tat=current + interval)


def full_jitter_backoff(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before retry `attempt` (1-based): uniform in [0, min(cap, base * 2^(attempt-1))].

    Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter") spreads retries of
    many clients evenly instead of letting them arrive in waves. A provider's Retry-After is a
    floor: we never come back sooner than it asked.
    """
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    delay: float = rand() * ceiling
    return max(delay, retry_after) if retry_after is not None else delay


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops calls to a provider after `failure_threshold` failures in a row.

    Open for `reset_timeout` seconds, then half-open: one probe call goes through; its success
    closes the circuit, its failure opens it again for another `reset_timeout`.
    """

    def __init__(
        self, *, failure_threshold: int, reset_timeout: float, clock: MonotonicClock
    ) -> None:
        self._threshold = failure_threshold
        self._reset_timeout = reset_timeout
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._reset_timeout:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def retry_in(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._reset_timeout - self._clock())

    def allows(self) -> bool:
        """Whether a call could be let through now (without taking the half-open probe)."""
        state = self.state
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and not self._probing
        )

    def try_acquire(self) -> bool:
        """Take permission for one call; in half-open, only one caller gets it."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._probing = False

    def abandon(self) -> None:
        """The permitted call never happened (cancelled): free the probe slot."""
        self._probing = False

"""Rate slots, backoff and the circuit breaker, each on a fake clock."""

import pytest

from order_service.domain.resilience import (
    BreakerState,
    CircuitBreaker,
    full_jitter_backoff,
    gcra_reserve,
)
from tests.fakes.users import FakeMonotonic


def test_gcra_lets_a_burst_through_then_spaces_requests_by_the_interval() -> None:
    tat = None
    waits = []
    for _ in range(6):
        slot = gcra_reserve(tat, 100.0, rate=10, burst=3, max_wait=10)
        tat = slot.tat
        waits.append(round(slot.wait, 6))
    assert waits == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3]


def test_gcra_refuses_a_slot_beyond_the_max_wait_without_consuming_it() -> None:
    slot = gcra_reserve(None, 0.0, rate=1, burst=1, max_wait=0)
    refused = gcra_reserve(slot.tat, 0.5, rate=1, burst=1, max_wait=0.2)
    assert refused.tat is None
    assert refused.wait == pytest.approx(0.5)
    later = gcra_reserve(slot.tat, 1.0, rate=1, burst=1, max_wait=0)
    assert later.tat == pytest.approx(2.0)


def test_gcra_never_exceeds_the_rate_over_any_window() -> None:
    rate, burst = 50.0, 5
    tat, now, sends = None, 0.0, []
    for _ in range(500):
        slot = gcra_reserve(tat, now, rate=rate, burst=burst, max_wait=1.0)
        if slot.tat is None:
            now += 0.003
            continue
        tat = slot.tat
        sends.append(now + slot.wait)
        now += 0.001
    sends.sort()
    for i, start in enumerate(sends):
        in_window = sum(1 for t in sends[i:] if t < start + 1.0)
        assert in_window <= rate + burst


def test_an_idle_limiter_forgets_old_debt() -> None:
    slot = gcra_reserve(5.0, 100.0, rate=1, burst=1, max_wait=0)
    assert slot.wait == 0
    assert slot.tat == pytest.approx(101.0)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 10.0), (100, 10.0)]
)
def test_full_jitter_is_uniform_up_to_the_capped_exponential(attempt: int, ceiling: float) -> None:
    top = full_jitter_backoff(attempt, base=0.5, cap=10.0, rand=lambda: 0.999999)
    bottom = full_jitter_backoff(attempt, base=0.5, cap=10.0, rand=lambda: 0.0)
    assert top == pytest.approx(ceiling, rel=1e-5)
    assert bottom == 0.0


def test_retry_after_is_a_floor_for_the_backoff() -> None:
    assert full_jitter_backoff(1, base=0.5, cap=10, retry_after=3.0, rand=lambda: 0.5) == 3.0
    assert full_jitter_backoff(5, base=1, cap=10, retry_after=0.1, rand=lambda: 0.5) == 5.0


def state_of(b: CircuitBreaker) -> BreakerState:
    """Read through a call, so the type checker does not narrow the property between steps."""
    return b.state


def breaker(clock: FakeMonotonic) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=clock)


def test_the_breaker_opens_after_the_threshold_of_failures_in_a_row() -> None:
    clock = FakeMonotonic()
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    b.record_success()  # resets the run
    b.record_failure()
    b.record_failure()
    assert state_of(b) is BreakerState.CLOSED
    b.record_failure()
    assert state_of(b) is BreakerState.OPEN
    assert not b.allows()
    assert not b.try_acquire()
    assert b.retry_in == 10


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    clock = FakeMonotonic()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(10)
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.try_acquire()
    assert not b.try_acquire()  # only one probe at a time
    b.record_success()
    assert state_of(b) is BreakerState.CLOSED


def test_a_failed_probe_opens_the_circuit_again() -> None:
    clock = FakeMonotonic()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(10)
    assert b.try_acquire()
    b.record_failure()
    assert state_of(b) is BreakerState.OPEN
    clock.advance(9.9)
    assert state_of(b) is BreakerState.OPEN


def test_an_abandoned_probe_frees_the_slot() -> None:
    clock = FakeMonotonic()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(10)
    assert b.try_acquire()
    b.abandon()
    assert b.try_acquire()

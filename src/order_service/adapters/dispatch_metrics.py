"""Prometheus series of the dispatcher: what an on-call engineer asks of the order pipeline."""

from prometheus_client import Counter, Gauge, Histogram

from order_service.application.order_ports import QueueStats
from order_service.domain.resilience import BreakerState

_MS_BUCKETS = tuple(0.001 * 2**k for k in range(12))

OUTBOX_DEPTH = Gauge("order_outbox_depth", "Outbox entries not yet delivered")
OUTBOX_OLDEST_AGE = Gauge(
    "order_outbox_oldest_age_seconds", "Age of the oldest outbox entry not yet delivered"
)
CLAIM_SECONDS = Histogram(
    "order_outbox_claim_seconds", "Time to claim a batch of outbox entries", buckets=_MS_BUCKETS
)
CLAIMED = Counter("order_outbox_claimed_total", "Outbox entries claimed by this process")
DELIVERIES = Counter(
    "order_deliveries_total", "Delivery attempts by provider and outcome", ["provider", "outcome"]
)
LIMITER_WAIT = Histogram(
    "order_rate_limiter_wait_seconds",
    "Time a delivery waited for its rate-limit slot",
    ["provider"],
    buckets=_MS_BUCKETS,
)
LIMITER_FALLBACK = Gauge(
    "order_rate_limiter_fallback",
    "1 while the provider's limit is enforced locally because Redis is unreachable",
    ["provider"],
)
BREAKER_STATE = Gauge(
    "order_provider_circuit_state",
    "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open",
    ["provider"],
)
IN_FLIGHT = Gauge("order_provider_in_flight", "Requests in flight per provider", ["provider"])

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class PrometheusDispatchObserver:
    def claimed(self, count: int, seconds: float) -> None:
        CLAIM_SECONDS.observe(seconds)
        CLAIMED.inc(count)

    def delivered(self, provider_id: str, outcome: str) -> None:
        DELIVERIES.labels(provider_id, outcome).inc()

    def limiter_waited(self, provider_id: str, seconds: float) -> None:
        LIMITER_WAIT.labels(provider_id).observe(seconds)

    def in_flight(self, provider_id: str, delta: int) -> None:
        IN_FLIGHT.labels(provider_id).inc(delta)

    def breaker(self, provider_id: str, state: BreakerState) -> None:
        BREAKER_STATE.labels(provider_id).set(_BREAKER_VALUE[state])

    def queue(self, stats: QueueStats) -> None:
        OUTBOX_DEPTH.set(stats.depth)
        OUTBOX_OLDEST_AGE.set(stats.oldest_age_seconds)


def limiter_fallback(provider_id: str, *, active: bool) -> None:
    LIMITER_FALLBACK.labels(provider_id).set(1 if active else 0)

"""Prometheus series and trace spans of the dispatcher: what an on-call engineer asks of the
order pipeline.

Spans (no-ops until an OpenTelemetry SDK is configured):
  `outbox claim`   one per non-empty claim, linked to every claimed order's placing request
  `order deliver`  one per claimed order, the root of its own trace (the provider call is its
                   child and carries its `traceparent`), linked to the placing request's trace
"""

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Gauge, Histogram

from order_service.application.order_ports import Claim, QueueStats
from order_service.domain.resilience import BreakerState

_MS_BUCKETS = tuple(0.001 * 2**k for k in range(12))

# Gauges across `serve` worker processes: only live ones count, or a restarted process's last
# value would stay in the scrape (and in the outbox-age alert) for the life of the server.
OUTBOX_DEPTH = Gauge(
    "order_outbox_depth", "Outbox entries not yet delivered", multiprocess_mode="livemax"
)
OUTBOX_OLDEST_AGE = Gauge(
    "order_outbox_oldest_age_seconds",
    "Age of the oldest outbox entry not yet delivered",
    multiprocess_mode="livemax",
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
    multiprocess_mode="livemax",
)
BREAKER_STATE = Gauge(
    "order_provider_circuit_state",
    "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open",
    ["provider"],
    multiprocess_mode="livemax",
)
IN_FLIGHT = Gauge(
    "order_provider_in_flight",
    "Requests in flight per provider",
    ["provider"],
    multiprocess_mode="livesum",
)

_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


_PROPAGATOR = TraceContextTextMapPropagator()
TRACER_NAME = "order_service.dispatch"


def request_link(trace_context: str | None) -> list[Link]:
    """A span Link to the stored `traceparent`, or none when it is missing or malformed."""
    if not trace_context:
        return []
    parent = _PROPAGATOR.extract({"traceparent": trace_context})
    span_context = trace.get_current_span(parent).get_span_context()
    return [Link(span_context)] if span_context.is_valid else []


class PrometheusDispatchObserver:
    def __init__(self) -> None:
        self._tracer = trace.get_tracer(TRACER_NAME)

    def claimed(self, claims: Sequence[Claim], seconds: float) -> None:
        CLAIM_SECONDS.observe(seconds)
        CLAIMED.inc(len(claims))
        if not claims:
            return  # an idle poll every fraction of a second is not worth a span
        end = time.time_ns()
        span = self._tracer.start_span(
            "outbox claim",
            otel_context.Context(),
            links=[link for claim in claims for link in request_link(claim.trace_context)],
            attributes={"order.outbox.claimed": len(claims)},
            start_time=end - int(seconds * 1e9),
        )
        span.end(end_time=end)

    def delivering(self, claim: Claim) -> AbstractContextManager[object]:
        return self._tracer.start_as_current_span(
            "order deliver",
            otel_context.Context(),
            SpanKind.CONSUMER,
            attributes={"order.id": str(claim.order.id), "order.outbox.claims": claim.claims},
            links=request_link(claim.trace_context),
        )

    def delivered(self, provider_id: str, outcome: str) -> None:
        DELIVERIES.labels(provider_id, outcome).inc()
        span = trace.get_current_span()
        span.set_attribute("order.provider", provider_id)
        span.set_attribute("order.delivery.outcome", outcome)

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

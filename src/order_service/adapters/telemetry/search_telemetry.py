"""SearchObserver with prometheus_client and OpenTelemetry: a span, a latency and an outcome.

Metrics (one series per index, never per query):
  search_index_duration_seconds{index}      histogram, buckets 1 ms x 2^k (12)
  search_index_queries_total{index,outcome} counter; outcome is ok, timeout, error, cancelled
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache

from opentelemetry import trace
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from order_service.domain.search import IndexName, IndexOutcome
from order_service.platform.tracing import child_span

BUCKETS = tuple(0.001 * 2**k for k in range(12))


@dataclass(frozen=True, slots=True)
class SearchMetrics:
    duration: Histogram
    queries: Counter


@cache
def search_metrics(registry: CollectorRegistry = REGISTRY) -> SearchMetrics:
    """The search metrics of `registry`, registered on first use.

    Cached because a registry accepts each name once, while one process may build the app
    several times (tests, the CLI).
    """
    return SearchMetrics(
        duration=Histogram(
            "search_index_duration_seconds",
            "Time one search index took to answer, fail, time out or be cancelled.",
            ["index"],
            buckets=BUCKETS,
            registry=registry,
        ),
        queries=Counter(
            "search_index_queries_total",
            "Search index queries by outcome (ok, timeout, error, cancelled).",
            ["index", "outcome"],
            registry=registry,
        ),
    )


class PrometheusSearchTelemetry:
    def __init__(self, metrics: SearchMetrics) -> None:
        self._metrics = metrics
        self._tracer = trace.get_tracer("order_service.search")

    def span(self, index: IndexName) -> AbstractContextManager[object]:
        # A child of the request's span, when the HTTP edge opened one.
        return child_span(self._tracer, f"search {index.value}", {"search.index": index.value})

    def observe(self, index: IndexName, outcome: IndexOutcome, seconds: float) -> None:
        self._metrics.duration.labels(index.value).observe(seconds)
        self._metrics.queries.labels(index.value, outcome.value).inc()

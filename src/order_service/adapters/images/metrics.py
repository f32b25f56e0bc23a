"""Prometheus metrics of the thumbnailer: renders, cache layers, the render pool, rejections.

A small module of its own so the platform's metrics module can adopt (or re-register) these
families when it lands; every name follows `docs/images.md`.
"""

import functools

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from order_service.domain.images import ImageFormat, ThumbnailSpec

# 1 ms x 2^k, as the service's other latency histograms (DESIGN.md).
_BUCKETS = tuple(0.001 * 2**k for k in range(12))


class PrometheusImageMetrics:
    """Implements the application's ImageMetrics and the render pool's PoolGauges."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.render_seconds = Histogram(
            "image_render_duration_seconds",
            "Time to decode, resize and encode one thumbnail, queueing included.",
            ["format", "size_class"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.cache = Counter(
            "image_cache_lookups_total",
            "Thumbnail lookups by cache layer (memory, blob) and result (hit, miss).",
            ["layer", "result"],
            registry=registry,
        )
        self.shared = Counter(
            "image_render_shared_total",
            "Requests served by another request's render of the same variant (single-flight).",
            registry=registry,
        )
        self.rejected = Counter(
            "image_uploads_rejected_total",
            "Uploads refused, by reason (unsupported, too_large, corrupt, too_many_pixels).",
            ["reason"],
            registry=registry,
        )
        # livesum: with several server processes a scrape adds theirs up, and a process that
        # died stops counting (the platform's other gauges do the same, ADR 0010).
        self.queued = Gauge(
            "image_render_pool_queued",
            "Renders admitted and waiting for a worker.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.in_flight = Gauge(
            "image_render_pool_in_flight",
            "Renders running in a worker.",
            registry=registry,
            multiprocess_mode="livesum",
        )

        self._queued = self._in_flight = 0  # what the gauges hold (they start at 0)

        # Children bound once: a cache hit is the hot path, and labels() is a lookup per call.
        self._lookups = {
            (layer, hit): self.cache.labels(layer, "hit" if hit else "miss")
            for layer in ("memory", "blob")
            for hit in (True, False)
        }
        self._renders: dict[tuple[ImageFormat, str], Histogram] = {}

    def cache_lookup(self, layer: str, *, hit: bool) -> None:
        child = self._lookups.get((layer, hit))
        if child is None:
            child = self.cache.labels(layer, "hit" if hit else "miss")
        child.inc()

    def upload_rejected(self, reason: str) -> None:
        self.rejected.labels(reason).inc()

    def rendered(self, spec: ThumbnailSpec, seconds: float) -> None:
        labels = (spec.format, spec.size_class)
        child = self._renders.get(labels)
        if child is None:  # a few formats x four size classes: bound once each
            child = self._renders[labels] = self.render_seconds.labels(
                spec.format.value, spec.size_class
            )
        child.observe(seconds)

    def render_shared(self) -> None:
        self.shared.inc()

    def pool_state(self, *, queued: int, in_flight: int) -> None:
        # Called twice per render; under load one of the two is unchanged, and with several
        # server processes each set() is a write to a shared file (multiprocess mode).
        if queued != self._queued:
            self._queued = queued
            self.queued.set(queued)
        if in_flight != self._in_flight:
            self._in_flight = in_flight
            self.in_flight.set(in_flight)


@functools.cache
def default_image_metrics() -> PrometheusImageMetrics:
    """The families on prometheus_client's default registry, created once per process.

    Registering a family twice raises, and the composition root can run more than once in a
    process (tests, reloads), so the one instance is shared.
    """
    return PrometheusImageMetrics()

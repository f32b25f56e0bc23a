"""Requests are counted in plain dicts and flushed into the metrics a few times a second; a
flush must leave exactly what the same observe()/inc() calls on prometheus_client would."""

from prometheus_client import CollectorRegistry, Counter, Histogram

from order_service.platform.metrics import HTTP_BUCKETS, Metrics

# Bucket bounds themselves (`le` is inclusive), between them, zero, and past the last bound.
DURATIONS = [0.0, 0.0005, 0.001, 0.0010001, 0.003, 0.004, 0.5, 2.048, 2.5, 60.0]


def scraped(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith(("http_requests_total", "http_request_duration_seconds"))
        and not sample.name.endswith("_created")
    }


def test_a_flush_scrapes_exactly_as_observing_each_request_would() -> None:
    metrics = Metrics(version="0.0.0", multiprocess_dir=None)
    reference = CollectorRegistry()
    requests = Counter("http_requests", "", ["method", "handler", "code"], registry=reference)
    duration = Histogram(
        "http_request_duration_seconds", "", ["handler"], buckets=HTTP_BUCKETS, registry=reference
    )
    for handler, method, code in [("/v1/users/{id}", "GET", 200), ("unmatched", "BREW", 404)]:
        for seconds in DURATIONS:
            metrics.observe_request(method, handler, code, seconds, None)
            requests.labels(method if method == "GET" else "OTHER", handler, code).inc()
            duration.labels(handler).observe(seconds)

    metrics.flush()

    assert scraped(metrics.registry) == scraped(reference)
    assert scraped(metrics.registry)[
        ("http_request_duration_seconds_count", (("handler", "/v1/users/{id}"),))
    ] == len(DURATIONS)


def test_requests_reach_the_metrics_at_the_flush_and_are_counted_once() -> None:
    metrics = Metrics(version="0.0.0", multiprocess_dir=None)
    labels = {"method": "GET", "handler": "/live", "code": "200"}
    metrics.observe_request("GET", "/live", 200, 0.002, None)
    assert metrics.registry.get_sample_value("http_requests_total", labels) is None

    metrics.flush()
    metrics.flush()  # nothing new: adds nothing
    assert metrics.registry.get_sample_value("http_requests_total", labels) == 1

    metrics.observe_request("GET", "/live", 200, 0.002, None)
    body, _ = metrics.exposition("text/plain")  # a scrape flushes this process's counts first
    assert b'http_requests_total{code="200",handler="/live",method="GET"} 2.0' in body

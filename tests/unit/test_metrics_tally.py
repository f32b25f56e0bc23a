"""Requests are counted in plain dicts and flushed into the metrics a few times a second; a
flush must leave exactly what the same observe()/inc() calls on prometheus_client would."""

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from order_service.platform import metrics as metrics_module
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


async def test_loop_lag_is_how_long_a_ready_callback_waits_behind_busy_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every sample waits behind a callback that holds the loop for 5 ms, so none may land
    in a bucket below 4 ms."""
    monkeypatch.setattr(metrics_module, "TICK_SECONDS", 0.001)
    metrics = Metrics(version="0.0.0", multiprocess_dir=None)

    def samples(upper_bound: str) -> float:
        value = metrics.registry.get_sample_value(
            "event_loop_lag_seconds_bucket", {"le": upper_bound}
        )
        return value or 0.0

    async def hold_the_loop_until_sampled() -> None:
        while samples("+Inf") < 20:  # each sample takes ~10 ms; bounded by pytest-timeout
            until = time.perf_counter() + 0.005
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(0)

    async with metrics.running():
        await hold_the_loop_until_sampled()
    assert samples("0.0032") == 0
    assert samples("+Inf") >= 20

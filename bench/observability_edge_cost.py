"""Microseconds that the edge adds per request, by part: request id, log sampling, metrics, traces.

In-process and without I/O, so it isolates what `EdgeTelemetry.begin/end` and one traced
use-case call cost, independent of the server and the network (CPU time of this process,
best of 5 runs of 50,000). Then what each request the 1 % samples pick costs on its own: one
access-log line (to /dev/null), and one fully traced request (the server span and a use-case
span) on the request's thread and, separately, its spans' OTLP encoding for export:

    uv run python bench/observability_edge_cost.py
"""

import asyncio
import atexit
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

# Multi-process metric storage, as under `serve`, and a 1% ratio sampler, as in the cost run;
# set before the modules that read them are imported.
_METRICS_DIR = tempfile.mkdtemp(prefix="edge-cost-")
atexit.register(shutil.rmtree, _METRICS_DIR, ignore_errors=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRICS_DIR
os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "3600000"  # nothing is exported while it measures
os.environ["OTEL_TRACES_SAMPLER"] = "traceidratio"
os.environ["OTEL_TRACES_SAMPLER_ARG"] = "0.01"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Imported after the variables above are set: the metrics and tracing modules read them.
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider  # noqa: E402
from opentelemetry.trace import get_tracer_provider  # noqa: E402

from bench.otlp_sink import otlp_sink  # noqa: E402
from order_service.adapters.http.observability import EdgeTelemetry  # noqa: E402
from order_service.platform.logging import configure_logging  # noqa: E402
from order_service.platform.metrics import Metrics  # noqa: E402
from order_service.platform.request_context import RequestContext, current_request  # noqa: E402
from order_service.platform.tracing import (  # noqa: E402
    Tracing,
    trace_methods,
    tracing,
)

SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/v1/users/0196a7a0-0000-7000-8000-000000000000",
    "headers": [(b"host", b"127.0.0.1"), (b"authorization", b"Bearer x"), (b"user-agent", b"wrk")],
    "client": ("127.0.0.1", 50000),
    "scheme": "http",
}
N = 50_000


def best_of(run: Callable[[], None], *, calls: int = N) -> float:
    timings = []
    for _ in range(5):
        started = time.process_time()
        run()
        timings.append((time.process_time() - started) / calls * 1e6)
    return min(timings)


def edge(telemetry: EdgeTelemetry, requests: int = N) -> Callable[[], None]:
    def run() -> None:
        for _ in range(requests):
            observation = telemetry.begin(SCOPE, "/v1/users/{id}", probe=False)
            telemetry.end(observation, 200, bytes_in=0, bytes_out=150)

    return run


SAMPLED = 5_000  # requests per run where every request is sampled


def traced_requests(telemetry: EdgeTelemetry, use_case: "UseCase") -> Callable[[], None]:
    """`SAMPLED` requests, each with a server span and one use-case span."""

    async def many() -> None:
        for _ in range(SAMPLED):
            observation = telemetry.begin(SCOPE, "/v1/users/{id}", probe=False)
            await use_case.get()
            telemetry.end(observation, 200, bytes_in=0, bytes_out=150)

    return lambda: asyncio.run(many())


class _Kept(SpanProcessor):
    """Keeps the ended spans, to time their encoding on their own."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def encoding_us_per_span(spans: list[ReadableSpan]) -> float:
    timings = []
    for _ in range(5):
        started = time.process_time()
        encode_spans(spans).SerializePartialToString()
        timings.append((time.process_time() - started) / len(spans) * 1e6)
    return min(timings)


def sampled_rows(metrics: Metrics, tracer: Tracing) -> None:
    """What one request that the samples pick costs: its log line, its trace."""
    unlogged = best_of(
        edge(EdgeTelemetry(metrics=None, log_sample_rate=0.0), SAMPLED), calls=SAMPLED
    )
    logged = best_of(edge(EdgeTelemetry(metrics=None, log_sample_rate=1.0), SAMPLED), calls=SAMPLED)
    print(f"{'one access-log line':48s} {logged - unlogged:6.2f} us")  # noqa: T201
    # A draw of 0 is in every sample: the edge and the SDK's 1 % ratio sampler, which reads
    # the draw back from the trace id's low bits, both keep every request.
    every = EdgeTelemetry(metrics=metrics, log_sample_rate=0.0, draw=lambda: 0.0)
    every.tracing = tracer
    use_case = UseCase()
    trace_methods(use_case, tracer.tracer, "UseCase")
    untraced = EdgeTelemetry(metrics=metrics, log_sample_rate=0.0)
    plain_use_case = UseCase()
    base = best_of(traced_requests(untraced, plain_use_case), calls=SAMPLED)
    traced = best_of(traced_requests(every, use_case), calls=SAMPLED)
    print(f"{'one traced request: its two spans':48s} {traced - base:6.2f} us")  # noqa: T201
    provider = get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise TypeError("tracing did not set the SDK's provider")
    kept = _Kept()
    provider.add_span_processor(kept)
    traced_requests(every, use_case)()
    label = "  + their OTLP encoding (exporter thread)"
    print(f"{label:48s} {2 * encoding_us_per_span(kept.spans):6.2f} us")  # noqa: T201


class UseCase:
    async def get(self) -> int:
        return 1


def calls(method: Callable[[], Awaitable[int]], *, dropped: bool) -> Callable[[], None]:
    async def many() -> None:
        # As the edge leaves it for a request its sampler dropped.
        dropped_request = RequestContext("bench")
        dropped_request.untraced = True
        token = current_request.set(dropped_request) if dropped else None
        for _ in range(N):
            await method()
        if token is not None:
            current_request.reset(token)

    return lambda: asyncio.run(many())


def main() -> None:
    with otlp_sink() as sink, Path(os.devnull).open("w") as devnull:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        configure_logging("INFO", stream=devnull)
        metrics = Metrics(version="bench")
        rows = [
            ("request id only", EdgeTelemetry(metrics=None, log_sample_rate=0.0)),
            ("+ access log sampled at 1%", EdgeTelemetry(metrics=None, log_sample_rate=0.01)),
            (
                "+ metrics (multi-process files)",
                EdgeTelemetry(metrics=metrics, log_sample_rate=0.01),
            ),
        ]
        for label, telemetry in rows:
            print(f"{label:48s} {best_of(edge(telemetry)):6.2f} us/request")  # noqa: T201
        with tracing(service_version="bench") as tracer:
            if tracer is None:
                raise RuntimeError("tracing did not start")
            everything = EdgeTelemetry(metrics=metrics, log_sample_rate=0.01)
            everything.tracing = tracer
            label = "+ server span, traces sampled at 1%"
            print(f"{label:48s} {best_of(edge(everything)):6.2f} us/request")  # noqa: T201
            use_case = UseCase()
            plain = best_of(calls(use_case.get, dropped=False))
            trace_methods(use_case, tracer.tracer, "UseCase")
            in_unsampled = best_of(calls(use_case.get, dropped=True))
            print(f"{'one use-case call, untraced':48s} {plain:6.2f} us")  # noqa: T201
            label = "one use-case call, traced, request not sampled"
            print(f"{label:48s} {in_unsampled:6.2f} us")  # noqa: T201
            sampled_rows(metrics, tracer)


if __name__ == "__main__":
    main()

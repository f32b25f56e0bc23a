"""Microseconds that the edge adds per request, by part: request id, log sampling, metrics, traces.

In-process and without I/O, so it isolates what `EdgeTelemetry.begin/end` and one traced
use-case call cost, independent of the server and the network (CPU time of this process,
best of 5 runs of 50,000):

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
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"  # never reached: no flush
os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "3600000"
os.environ["OTEL_TRACES_SAMPLER"] = "traceidratio"
os.environ["OTEL_TRACES_SAMPLER_ARG"] = "0.01"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# Imported after the variables above are set: the metrics and tracing modules read them.
from order_service.adapters.http.observability import EdgeTelemetry  # noqa: E402
from order_service.platform.logging import configure_logging  # noqa: E402
from order_service.platform.metrics import Metrics  # noqa: E402
from order_service.platform.tracing import (  # noqa: E402
    UnsampledRoot,
    dropped_root,
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


def best_of(run: Callable[[], None]) -> float:
    timings = []
    for _ in range(5):
        started = time.process_time()
        run()
        timings.append((time.process_time() - started) / N * 1e6)
    return min(timings)


def edge(telemetry: EdgeTelemetry) -> Callable[[], None]:
    def run() -> None:
        for _ in range(N):
            observation = telemetry.begin(SCOPE, "/v1/users/{id}", probe=False)
            telemetry.end(observation, 200, bytes_in=0, bytes_out=150)

    return run


class UseCase:
    async def get(self) -> int:
        return 1


def calls(method: Callable[[], Awaitable[int]], *, dropped: bool) -> Callable[[], None]:
    async def many() -> None:
        # As the edge leaves it for a request its sampler dropped.
        token = dropped_root.set(UnsampledRoot()) if dropped else None
        for _ in range(N):
            await method()
        if token is not None:
            dropped_root.reset(token)

    return lambda: asyncio.run(many())


def main() -> None:
    with Path(os.devnull).open("w") as devnull:
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


if __name__ == "__main__":
    main()

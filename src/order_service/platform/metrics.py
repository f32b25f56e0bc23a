"""Prometheus metrics, correct across worker processes (docs/adr/0010-metrics-multiprocess.md).

`serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory before any worker starts
(`prepare_multiprocess_dir`, in `multiprocess_dir.py` so that it runs before prometheus_client
is imported). Every worker then writes its values to memory-mapped files there, and whichever
worker answers a scrape sums all of them. prometheus_client keeps no exemplars in that mode, so
each worker keeps the newest trace id per latency bucket itself and publishes it to a small file
beside the values once a second; a scrape that asks for OpenMetrics gets them attached.

Without PROMETHEUS_MULTIPROC_DIR (an app built in-process, in tests) the same metrics live in
one registry in memory.
"""

import asyncio
import bisect
import contextlib
import gc
import json
import logging
import os
import platform
import resource
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

_log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# 1 ms x 2^k, k = 0..11: 1 ms to 2.048 s, fine where the hot path lives, coarse in the tail.
HTTP_BUCKETS = tuple(0.001 * 2**k for k in range(12))
# Loop lag and GC pauses: 0.1 ms x 2^k, 0.1 ms to 204.8 ms.
PAUSE_BUCKETS = tuple(0.0001 * 2**k for k in range(12))
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_EXEMPLAR_FILE = "exemplars_{pid}.json"
# How often each worker writes its request counts to the shared files and times its loop: a
# scrape sees another worker's requests at most this late.
TICK_SECONDS = 0.1


class PoolStats(NamedTuple):
    """A connection pool at one instant."""

    size: int
    in_use: int
    max_size: int


PoolSampler = Callable[[], PoolStats]


def _commit_of(version: str) -> str:
    # hatch-vcs versions look like 1.2.3.dev4+g1a2b3c4d(.dYYYYMMDD) between tags.
    local = version.partition("+")[2]
    for part in local.split("."):
        if part.startswith("g") and len(part) > 1:
            return part[1:]
    return "unknown"


class Metrics:
    """Every metric of one process, and the scrape that sums all processes."""

    def __init__(self, *, version: str, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir or os.environ.get(MULTIPROC_ENV) or None
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "handler", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to its last response byte, by route template.",
            ["handler"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "Requests being served, sampled once a second.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.loop_lag = Histogram(
            "event_loop_lag_seconds",
            "How long a ready callback waited for the event loop (a busy loop delays every "
            "request).",
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.gc_pause = Histogram(
            "python_gc_pause_seconds",
            "Duration of one garbage collection, by generation (the whole process stops).",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.pool_size = Gauge(
            "db_pool_connections",
            "Open connections of a database pool.",
            ["pool"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_in_use = Gauge(
            "db_pool_connections_in_use",
            "Connections of a database pool lent to a query.",
            ["pool"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_max = Gauge(
            "db_pool_connections_max",
            "The most connections a database pool may open.",
            ["pool"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.cpu = Counter(
            "process_cpu_seconds",
            "CPU time (user and system) of the worker processes.",
            registry=registry,
        )
        self.rss = Gauge(
            "process_resident_memory_bytes",
            "Resident memory of the worker processes, summed.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.open_fds = Gauge(
            "process_open_fds",
            "Open file descriptors of the worker processes, summed.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.workers = Gauge(
            "process_workers",
            "Worker processes serving.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.build_info = Gauge(
            "order_service_build_info",
            "Always 1; the labels say what is running.",
            ["version", "commit", "python_version"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.build_info.labels(version, _commit_of(version), platform.python_version()).set(1)
        self._tally = _RequestTally()
        self._exemplars = ExemplarStore(self.multiprocess_dir)
        self._gc_pauses: deque[tuple[int, float]] = deque(maxlen=10_000)
        self._gc_started = 0.0
        self._cpu_seen = 0.0

    # The hot path: counted in plain dicts of this process, written to the shared metric
    # files by `flush` a few times a second (ADR 0010): prometheus_client's own update takes a
    # lock, checks the pid and writes the memory-mapped file three times per request.
    def observe_request(
        self, method: str, handler: str, code: int, seconds: float, trace_id: str | None
    ) -> None:
        self._tally.add(method, handler, code, seconds)
        if trace_id is not None:
            self._exemplars.record(handler, seconds, trace_id)

    def flush(self) -> None:
        """Write the requests counted since the last flush into the metrics."""
        self._tally.flush_into(self.requests, self.duration)

    # GC callbacks run inside whatever code allocated; they only append to a deque (no lock
    # that the interrupted code might hold), and the ticker moves the pauses to the histogram.
    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._gc_pauses.append((info["generation"], time.perf_counter() - self._gc_started))

    def sample(self, pools: dict[str, PoolSampler], in_flight: Callable[[], int]) -> None:
        """Move sampled values into the metrics; called by the ticker once a second."""
        while self._gc_pauses:
            generation, seconds = self._gc_pauses.popleft()
            self.gc_pause.labels(str(generation)).observe(seconds)
        self.in_flight.set(in_flight())
        for name, sampler in pools.items():
            stats = sampler()
            self.pool_size.labels(name).set(stats.size)
            self.pool_in_use.labels(name).set(stats.in_use)
            self.pool_max.labels(name).set(stats.max_size)
        times = os.times()
        cpu = times.user + times.system
        if cpu > self._cpu_seen:
            self.cpu.inc(cpu - self._cpu_seen)
            self._cpu_seen = cpu
        self.rss.set(_resident_bytes())
        with contextlib.suppress(OSError):
            self.open_fds.set(sum(1 for _ in Path("/proc/self/fd").iterdir()))
        self._exemplars.publish()

    @asynccontextmanager
    async def running(
        self,
        *,
        pools: dict[str, PoolSampler] | None = None,
        in_flight: Callable[[], int] = lambda: 0,
        interval: float = 1.0,
    ) -> AsyncIterator[None]:
        """Flush request counts and time the loop every tick; sample GC, pools and the
        process every `interval`, while the app serves."""
        pools = pools or {}
        gc.callbacks.append(self._on_gc)
        self.workers.set(1)
        self.sample(pools, in_flight)
        try:
            async with asyncio.TaskGroup() as group:
                ticker = group.create_task(self._tick(pools, in_flight, interval))
                try:
                    yield
                finally:
                    ticker.cancel()
        finally:
            gc.callbacks.remove(self._on_gc)
            self.flush()
            self.workers.set(0)
            if self.multiprocess_dir:
                # This worker's live gauges leave the sums; its counters stay in the totals.
                mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]
                self._exemplars.remove()

    async def _tick(
        self, pools: dict[str, PoolSampler], in_flight: Callable[[], int], interval: float
    ) -> None:
        loop = asyncio.get_running_loop()
        next_sample = loop.time() + interval
        while True:
            await asyncio.sleep(TICK_SECONDS)
            # The lag is how long a callback that is ready now waits for its turn: the rest of
            # this loop iteration, the I/O poll and what is queued ahead of it. Timed with
            # perf_counter: the loop's own clock (uvloop's) moves in whole milliseconds.
            queued = time.perf_counter()
            await asyncio.sleep(0)
            self.loop_lag.observe(time.perf_counter() - queued)
            now = loop.time()
            try:
                self.flush()
                if now >= next_sample:
                    next_sample = now + interval
                    self.sample(pools, in_flight)
            except Exception:  # noqa: BLE001 - a failing sampler must not stop the others
                _log.exception("metrics sampling failed")

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The scrape: every process's totals, as OpenMetrics with exemplars if asked for."""
        self.flush()
        encode, content_type = choose_encoder(accept)
        return encode(_Scrape(self._source(), self._exemplars)), content_type

    def _source(self) -> Any:  # noqa: ANN401 - prometheus_client's collectors are untyped
        if self.multiprocess_dir is None:
            return _InProcess(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return registry


class _RequestTally:
    """Requests counted since the last flush: (method, handler, code) -> count, and per handler
    the count in each latency bucket (non-cumulative, as prometheus_client stores them) and the
    sum of the durations."""

    __slots__ = ("_counts", "_durations")

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._durations: dict[str, list[float]] = {}

    def add(self, method: str, handler: str, code: int, seconds: float) -> None:
        key = (method, handler, code)
        self._counts[key] = self._counts.get(key, 0) + 1
        row = self._durations.get(handler)
        if row is None:
            row = self._durations[handler] = [0.0] * (len(HTTP_BUCKETS) + 2)
        # `le` is inclusive: the first bound >= seconds; past the last one, the +Inf bucket.
        row[bisect.bisect_left(HTTP_BUCKETS, seconds)] += 1
        row[-1] += seconds

    def flush_into(self, requests: Counter, duration: Histogram) -> None:
        counts, self._counts = self._counts, {}
        durations, self._durations = self._durations, {}
        for (method, handler, code), count in counts.items():
            label = method if method in _METHODS else "OTHER"  # not a client's choice of label
            requests.labels(label, handler, code).inc(count)
        for handler, row in durations.items():
            child = duration.labels(handler)
            # Histogram has no bulk observe. Its children keep one value per bucket
            # (non-cumulative) and one sum: private, but unchanged for years; a unit test
            # checks that a flush scrapes exactly as the same observe() calls would.
            for value, observed in zip(child._buckets, row[:-1], strict=True):
                if observed:
                    value.inc(observed)
            child._sum.inc(row[-1])


class _InProcess:
    """Ours, plus what other code registered in the library's default registry (search's
    metrics), less its own process collector, whose names ours replace."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        ours = list(self._registry.collect())
        names = {metric.name for metric in ours}
        yield from ours
        for metric in REGISTRY.collect():
            if metric.name not in names and not metric.name.startswith("process_"):
                yield metric


class _Scrape:
    """The collected metrics with the newest exemplar of each latency bucket attached."""

    def __init__(self, source: Any, exemplars: "ExemplarStore") -> None:  # noqa: ANN401
        self._source = source
        self._exemplars = exemplars

    def collect(self) -> Iterator[Metric]:
        exemplars = self._exemplars.merged()
        for metric in self._source.collect():
            if metric.name == "http_request_duration_seconds" and exemplars:
                metric.samples = [_with_exemplar(sample, exemplars) for sample in metric.samples]
            yield metric


def _with_exemplar(sample: Any, exemplars: dict[tuple[str, str], list[Any]]) -> Any:  # noqa: ANN401
    if not sample.name.endswith("_bucket"):
        return sample
    found = exemplars.get((sample.labels.get("handler", ""), sample.labels.get("le", "")))
    if found is None:
        return sample
    trace_id, value, timestamp = found
    return sample._replace(exemplar=Exemplar({"trace_id": trace_id}, value, timestamp))


class ExemplarStore:
    """The newest traced observation per (handler, bucket) of this process, shared by file."""

    def __init__(self, directory: str | None) -> None:
        self._directory = Path(directory) if directory else None
        self._bounds = [*HTTP_BUCKETS, float("inf")]
        self._labels: list[str] = [
            floatToGoString(bound)  # type: ignore[no-untyped-call]
            for bound in self._bounds
        ]
        self._newest: dict[tuple[str, str], list[Any]] = {}
        self._dirty = False

    def record(self, handler: str, seconds: float, trace_id: str) -> None:
        le = self._labels[bisect.bisect_left(self._bounds, seconds)]
        self._newest[handler, le] = [trace_id, seconds, time.time()]
        self._dirty = True

    def _path(self, pid: int) -> Path:
        assert self._directory is not None  # noqa: S101 - only called in multi-process mode
        return self._directory / _EXEMPLAR_FILE.format(pid=pid)

    def publish(self) -> None:
        if self._directory is None or not self._dirty:
            return
        self._dirty = False
        rows = [[handler, le, *value] for (handler, le), value in self._newest.items()]
        path = self._path(os.getpid())
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(rows))
        temporary.replace(path)

    def remove(self) -> None:
        if self._directory is not None:
            self._path(os.getpid()).unlink(missing_ok=True)

    def merged(self) -> dict[tuple[str, str], list[Any]]:
        merged = dict(self._newest)
        if self._directory is None:
            return merged
        own = self._path(os.getpid()).name
        for path in self._directory.glob(_EXEMPLAR_FILE.format(pid="*")):
            if path.name == own:
                continue
            try:
                rows = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a worker that is exiting; its exemplars are only hints
            for handler, le, trace_id, value, timestamp in rows:
                current = merged.get((handler, le))
                if current is None or current[2] < timestamp:
                    merged[handler, le] = [trace_id, value, timestamp]
        return merged


def _resident_bytes() -> float:
    try:
        with Path("/proc/self/statm").open() as statm:
            return float(int(statm.read().split()[1]) * _PAGE_SIZE)
    except OSError:
        # Not Linux: the peak is the best the standard library offers.
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)

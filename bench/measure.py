"""One measured load run: wrk on the load core, CPU, RSS, GC pauses and loop lag of the server."""

import json
import math
import os
import re
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stacks import Server, http_get, pinned

WRK_DIR = Path(__file__).resolve().parent / "wrk"
_BENCH_JSON = re.compile(r"^BENCH_JSON (\{.*\})$", re.MULTILINE)


@dataclass(frozen=True)
class Load:
    script: str  # file name under bench/wrk/
    connections: int
    seconds: int
    warmup_seconds: int
    cpu: str | None
    env: Mapping[str, str]
    # Warm up until at least this many requests were served (e.g. every seeded user once, so
    # the caches hold what a long-running service would), within MAX_WARMUP_SECONDS.
    warm_requests: int = 0


MAX_WARMUP_SECONDS = 40


# Requests sent so far per (server, script): each run starts where the previous one stopped.
_progress: dict[tuple[str, str], int] = {}


def wrk(server: Server, load: Load, seconds: int) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1",
        f"-c{load.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / load.script),
        server.url,
    ]
    position = (server.name, load.script)
    env = {**os.environ, **load.env, "BENCH_WRK_DIR": str(WRK_DIR)}
    env["BENCH_START"] = str(_progress.get(position, 0))
    done = subprocess.run(  # noqa: S603 - wrk from PATH, our arguments
        pinned(load.cpu, command),
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    found = _BENCH_JSON.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    parsed: dict[str, Any] = json.loads(found.group(1))
    _progress[position] = _progress.get(position, 0) + parsed["requests"]
    return parsed


def measure(server: Server, load: Load) -> dict[str, Any]:
    """Warm up, then one measured run; everything the report needs about it."""
    # The caches persist across rounds: only a stack's first run needs the long warm-up.
    warmed = _progress.get((server.name, load.script), 0)
    spent = 0
    while load.warmup_seconds and spent < MAX_WARMUP_SECONDS:
        warmed += wrk(server, load, load.warmup_seconds)["requests"]
        spent += load.warmup_seconds
        if warmed >= load.warm_requests:
            break
    server.probe_snapshot()  # forget the warm-up's pauses and lags
    metrics_before = scrape(server)
    cpu_before = server.cpu_seconds()
    raw = wrk(server, load, load.seconds)
    cpu = server.cpu_seconds() - cpu_before
    probe = server.probe_snapshot() or {}
    metrics_after = scrape(server)
    seconds = raw["duration_us"] / 1e6
    requests = raw["requests"]
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    result: dict[str, Any] = {
        "rps": requests / seconds if seconds else 0.0,
        "requests": requests,
        "p50_ms": raw["p50"] / 1000,
        "p90_ms": raw["p90"] / 1000,
        "p99_ms": raw["p99"] / 1000,
        "p999_ms": raw["p999"] / 1000,
        "max_ms": raw["max"] / 1000,
        "errors": errors,
        "non_2xx_or_3xx": raw["status"],
        "socket_errors": errors - raw["status"],
        "cpu_us_per_request": cpu * 1e6 / requests if requests else math.nan,
        "cpu_busy": cpu / seconds if seconds else math.nan,
        "rss_mib": server.rss_mib(),
    }
    result.update(_gc_and_lag(probe, metrics_before, metrics_after))
    return result


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


def _gc_and_lag(
    probe: Mapping[str, Any],
    before: dict[str, dict[float, float]],
    after: dict[str, dict[float, float]],
) -> dict[str, Any]:
    """GC pauses and loop lag: from the service's own /metrics if it has them, else the probe."""
    out: dict[str, Any] = {}
    pauses = [ns / 1000 for ns in probe.get("gc_pauses_ns", [])]
    lags = [ns / 1e6 for ns in probe.get("loop_lag_ns", [])]
    out["gc_collections"] = len(pauses)
    out["gc_pause_p99_us"] = _percentile(pauses, 99)
    out["gc_pause_max_us"] = max(pauses) if pauses else math.nan
    out["loop_lag_p99_ms"] = _percentile(lags, 99)
    out["gc_lag_source"] = "probe" if probe else "n/a"
    generations = probe.get("gc_generations", [])
    out["gc_by_generation"] = {str(g): generations.count(g) for g in sorted(set(generations))}
    gc_family = _family(after, r"gc.*(pause|duration)")
    lag_family = _family(after, r"(event_?)?loop.*lag")
    if gc_family:
        out["metrics_gc_pause_p99_us"] = _histogram_quantile(before, after, gc_family, 0.99) * 1e6
    if lag_family:
        out["metrics_loop_lag_p99_ms"] = _histogram_quantile(before, after, lag_family, 0.99) * 1e3
    return out


def scrape(server: Server) -> dict[str, dict[float, float]]:
    """Histogram buckets on /metrics, summed over labels: {family: {le: cumulative count}}."""
    try:
        status, body = http_get(server.port, "/metrics")
    except OSError:
        return {}
    if status != 200:
        return {}
    families: dict[str, dict[float, float]] = {}
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("#") or "_bucket{" not in line:
            continue
        name, _, rest = line.partition("_bucket{")
        labels, _, value = rest.rpartition("} ")
        le = re.search(r'le="([^"]+)"', labels)
        if le is None:
            continue
        bound = math.inf if le.group(1) == "+Inf" else float(le.group(1))
        bucket = families.setdefault(name, {})
        bucket[bound] = bucket.get(bound, 0.0) + float(value.split()[0])
    return families


def _family(metrics: Mapping[str, Any], pattern: str) -> str | None:
    return next((name for name in sorted(metrics) if re.search(pattern, name)), None)


def _histogram_quantile(
    before: dict[str, dict[float, float]],
    after: dict[str, dict[float, float]],
    family: str,
    q: float,
) -> float:
    """Prometheus' histogram_quantile over the run's increase (linear within a bucket)."""
    start = before.get(family, {})
    buckets = sorted((le, count - start.get(le, 0.0)) for le, count in after[family].items())
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower_bound
            return lower_bound + (le - lower_bound) * (rank - lower_count) / max(
                count - lower_count, 1e-9
            )
        lower_bound, lower_count = le, count
    return lower_bound


def median_of(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The median of every numeric field over the rounds (each field on its own)."""
    if not runs:
        return {}
    merged: dict[str, Any] = {}
    for key in runs[0]:
        values = [run[key] for run in runs if key in run]
        numeric = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
        if numeric and len(numeric) == len(values):
            merged[key] = statistics.median(numeric)
        elif values and all(isinstance(v, (int, float)) for v in values):
            merged[key] = math.nan
        else:
            merged[key] = values[-1]
    merged["rounds_rps"] = [round(run["rps"]) for run in runs if "rps" in run]
    return merged


def pgbench(  # noqa: PLR0917 - named at the one call site
    dsn: str, schema: str, clients: int, seconds: int, cpu: str | None, work: Path
) -> dict[str, Any]:
    """What PostgreSQL itself commits here: one INSERT per transaction, `clients` connections."""
    script = work / "pgbench-insert.sql"
    script.write_text(
        f"INSERT INTO {schema}.bench_pgbench_orders"  # noqa: S608 - our generated schema name
        " (id, customer_id, body) "
        "VALUES (gen_random_uuid(), gen_random_uuid(), "
        '\'{"items": [{"sku": "SKU-001", "quantity": 1}], "region": "eu"}\');\n'
    )
    command = [
        "pgbench", "-n", "-c", str(clients), "-j", "1", "-T", str(seconds), "-f", str(script), dsn,
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - pgbench from PATH
        pinned(cpu, command), capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if done.returncode != 0 or tps is None:
        raise RuntimeError(f"pgbench failed: {done.stdout}\n{done.stderr}")
    return {
        "rps": float(tps.group(1)),
        "p50_ms": math.nan,
        "mean_ms": float(latency.group(1)) if latency else math.nan,
        "errors": int(failed.group(1)) if failed else 0,
    }

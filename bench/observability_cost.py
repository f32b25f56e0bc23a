"""What logs, metrics and traces cost on the hot path, GET /v1/users/{id}, as a ratio.

Two builds of the same code run side by side, one worker each, pinned to one core, with wrk
pinned to the other, measured in alternation (off, on, off, on, ...) so that noise from the
shared machine falls on both alike:

- off: ORDER_SERVICE_METRICS_ENABLED=false, ORDER_SERVICE_LOG_SAMPLE_RATE=0, no OTEL endpoint;
- on:  metrics on, access log sampled at 1%, traces exported over OTLP/HTTP (to a sink in this
  process) with OTEL_TRACES_SAMPLER=traceidratio at 1%;
- with --ablation also each part alone (metrics, logs, traces), and traces0: tracing on with
  the sampler at 0 %, what every request pays for tracing apart from the 1 % recorded.

    uv run python bench/observability_cost.py [--seconds 5] [--rounds 3] [--ablation]

Prints the median requests/s of each and the ratio on/off (docs/observability.md).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.service_process import RunningService, running_service

from bench.otlp_sink import otlp_sink

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway user of the benchmark


def user_and_token(service: RunningService) -> tuple[str, str]:
    with httpx.Client(base_url=service.base_url, timeout=10) as client:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        created = client.post("/v1/users", json={"email": email, "name": "B", "password": PASSWORD})
        created.raise_for_status()
        token = client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        token.raise_for_status()
        return created.json()["id"], token.json()["access_token"]


def observability_builds(otlp_endpoint: str, *, ablation: bool) -> dict[str, dict[str, str]]:
    """The service's environment for each build: off, on and, with `ablation`, each part alone."""
    off = {"ORDER_SERVICE_METRICS_ENABLED": "false", "ORDER_SERVICE_LOG_SAMPLE_RATE": "0"}
    traces = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01",
    }
    builds = {"off": off, "on": {"ORDER_SERVICE_LOG_SAMPLE_RATE": "0.01", **traces}}
    if ablation:
        builds["metrics"] = {"ORDER_SERVICE_LOG_SAMPLE_RATE": "0"}
        builds["logs"] = {**off, "ORDER_SERVICE_LOG_SAMPLE_RATE": "0.01"}
        builds["traces"] = {**off, **traces}
        # Tracing on but no request sampled: what every request pays, apart from the 1 %.
        builds["traces0"] = {**off, **traces, "OTEL_TRACES_SAMPLER_ARG": "0"}
    return builds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, token: str, seconds: int, connections: int) -> tuple[float, int]:
    """Requests per second, and the number of requests served."""
    command = [
        shutil.which("taskset") or "/usr/bin/taskset", "-c", "0",
        shutil.which("wrk") or "/usr/bin/wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
        "-H", f"Authorization: Bearer {token}", url,
    ]  # fmt: skip
    output = subprocess.run(  # noqa: S603 - our own fixed command line
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{url} answered {non_2xx.group(1)} errors")
    served = re.search(r"(\d+) requests in", output)
    if served is None:
        raise RuntimeError(output)
    return float(found.group(1)), int(served.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--ablation", action="store_true", help="also metrics, logs, traces alone, and traces0"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        endpoint = stack.enter_context(otlp_sink()).endpoint
        var = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        builds = observability_builds(endpoint, ablation=args.ablation)
        urls: dict[str, tuple[str, str]] = {}
        pids: dict[str, int] = {}
        for variable in [name for name in os.environ if name.startswith("OTEL_")]:
            del os.environ[variable]  # the builds differ only by what is set below
        for name, env in builds.items():
            service = stack.enter_context(running_service(var / name, env=env))
            os.sched_setaffinity(service.process.pid, {1})
            pids[name] = service.process.pid
            user_id, token = user_and_token(service)
            urls[name] = (f"{service.base_url}/v1/users/{user_id}", token)
        for url, token in urls.values():  # warm-up
            wrk(url, token, 2, args.connections)
        results: dict[str, list[float]] = {name: [] for name in builds}
        cpu: dict[str, list[float]] = {name: [] for name in builds}
        for round_ in range(args.rounds):
            # Alternate which goes first, so a drift in the machine's load favours neither.
            order = list(urls) if round_ % 2 == 0 else list(reversed(urls))
            for name in order:
                url, token = urls[name]
                before = cpu_seconds(pids[name])
                rate, served = wrk(url, token, args.seconds, args.connections)
                results[name].append(rate)
                cpu[name].append((cpu_seconds(pids[name]) - before) / served * 1e6)
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:>7}: median {medians[name]:8.0f} req/s  ({runs})")  # noqa: T201
    # CPU per request of the server process: what the stack costs, little moved by other load.
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    for name, values in cpu.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:>7}: median {cpu_medians[name]:8.1f} CPU us/request  ({runs})")  # noqa: T201
    ratio = cpu_medians["off"] / cpu_medians["on"]
    print(f"throughput ratio implied by CPU per request (off/on): {ratio:.3f}")  # noqa: T201
    ratios = [on / off for on, off in zip(results["on"], results["off"], strict=True)]
    print(f"on/off: ratio of medians {medians['on'] / medians['off']:.3f}, ", end="")  # noqa: T201
    print(f"median of per-round ratios {statistics.median(ratios):.3f}")  # noqa: T201


if __name__ == "__main__":
    main()

"""`python -m bench.startup`: seconds from `order-service serve` starting to /ready = 200.

The embedded default as `make run` starts it (SQLite under a fresh var dir, no Redis, no
PostgreSQL, no OTEL_*), migrated first and not timed, as the full benchmark's start-up row does;
but alone, so a change to start-up can be measured in a minute. Each try starts the service with
its default workers and with `--workers 1`, in turn, so the machine's noise hits both alike.
Also prints the CPU seconds (user + system) the whole process tree spent until it was stopped,
which a busy shared machine disturbs less than wall time.
"""

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import clean_environ
from bench.stacks import ROOT, start_server


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:ARG[,ARG]",
        help="extra serve arguments to time, e.g. two:--workers,2 (default: default and one)",
    )
    args = parser.parse_args()
    variants: dict[str, list[str]] = {"default": [], "one_worker": ["--workers", "1"]}
    for item in args.variant:
        name, _, extra = item.partition(":")
        variants[name] = [part for part in extra.split(",") if part]
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    serve = [sys.executable, "-m", "order_service", "serve", "--port", "{port}"]
    with tempfile.TemporaryDirectory(prefix="order-service-startup-") as tmp:
        work = Path(tmp)
        for attempt in range(args.tries):
            for name, extra in variants.items():
                var_dir = work / f"{name}-{attempt}"
                env = {**clean_environ(), "ORDER_SERVICE_VAR_DIR": str(var_dir)}
                migrate = [sys.executable, "-m", "order_service", "migrate"]
                subprocess.run(migrate, env=env, check=True, capture_output=True, cwd=ROOT)  # noqa: S603 - our own CLI
                cpu_before = _children_cpu()
                server = start_server(
                    f"{name}-{attempt}",
                    [*serve, *extra],
                    env=env,
                    work_dir=work,
                    ready_path="/ready",
                    cpu=None,
                )
                server.stop()
                walls[name].append(server.ready_after)
                cpus[name].append(_children_cpu() - cpu_before)
    for name in variants:
        runs = ", ".join(f"{t:.3f}" for t in walls[name])
        print(  # noqa: T201
            f"{name:12} start to ready: median {statistics.median(walls[name]):.3f} s "
            f"(runs {runs}); CPU until stopped: median {statistics.median(cpus[name]):.2f} s"
        )


if __name__ == "__main__":
    main()

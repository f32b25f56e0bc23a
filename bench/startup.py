"""`python -m bench.startup`: seconds from `order-service serve` starting to /ready = 200.

The embedded default as `make run` starts it (SQLite under a fresh var dir, no Redis, no
PostgreSQL, no OTEL_*), migrated first and not timed, as the full benchmark's start-up row does;
but alone, so a change to start-up can be measured in a minute. Each try starts the service with
its default workers and with `--workers 1`, in turn, so the machine's noise hits both alike.
Also prints the CPU seconds (user + system) the whole process tree spent until it was stopped,
which a busy shared machine disturbs less than wall time.

`--callgrind` counts instead the instructions of what `serve` does before its first /ready
(settings, imports, key ring, wiring; not uvicorn's socket nor the render pool's processes)
under valgrind: the same count on every run, however busy the machine, so two builds compare
exactly.
"""

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import clean_environ, migrate_embedded, seconds_to_ready
from bench.stacks import ROOT

# `order-service serve` up to its first /ready, minus uvicorn's serving: the CLI's module and
# the settings first, then the wiring's imports, the key ring and the app's wiring.
_SERVE_UNTIL_READY = """
import uvloop
import order_service.__main__
from order_service.platform.config import load_settings
from order_service.platform.multiprocess_dir import multiprocess_metrics_dir

settings = load_settings()
with multiprocess_metrics_dir():
    from order_service.bootstrap import load_key_ring, wire
    from order_service.platform.server import run_http_server

    load_key_ring(settings)

    async def main():
        async with wire(settings, dispatch=settings.dispatch_in_serve):
            pass

    uvloop.run(main())
"""


def _instructions(env: dict[str, str], work: Path) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--callgrind needs valgrind (Debian package valgrind)")
    out = work / "callgrind.out"
    command = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}"]
    subprocess.run(  # noqa: S603 - valgrind running our own code
        [*command, sys.executable, "-c", _SERVE_UNTIL_READY],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary line in {out}")


def _count_instructions(tries: int) -> None:
    with tempfile.TemporaryDirectory(prefix="order-service-startup-") as tmp:
        env = {**clean_environ(), "ORDER_SERVICE_VAR_DIR": str(Path(tmp) / "var")}
        migrate_embedded(env)
        counts = [_instructions(env, Path(tmp)) for _ in range(tries)]
    median = statistics.median(counts) / 1e9
    runs = ", ".join(f"{count / 1e9:.3f}" for count in counts)
    print(f"instructions until wired: median {median:.3f} G (runs {runs})")  # noqa: T201


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
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count the instructions until the app is wired (valgrind), instead of timing",
    )
    args = parser.parse_args()
    if args.callgrind:
        _count_instructions(args.tries)
        return
    variants: dict[str, list[str]] = {"default": [], "one_worker": ["--workers", "1"]}
    for item in args.variant:
        name, _, extra = item.partition(":")
        variants[name] = [part for part in extra.split(",") if part]
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="order-service-startup-") as tmp:
        work = Path(tmp)
        for attempt in range(args.tries):
            for name, extra in variants.items():
                var_dir = work / f"{name}-{attempt}"
                env = {**clean_environ(), "ORDER_SERVICE_VAR_DIR": str(var_dir)}
                migrate_embedded(env)
                cpu_before = _children_cpu()
                label = f"{name}-{attempt}"
                walls[name].append(seconds_to_ready(label, extra, env=env, work_dir=work, cpu=None))
                cpus[name].append(_children_cpu() - cpu_before)
    for name in variants:
        runs = ", ".join(f"{t:.3f}" for t in walls[name])
        print(  # noqa: T201
            f"{name:12} start to ready: median {statistics.median(walls[name]):.3f} s "
            f"(runs {runs}); CPU until stopped: median {statistics.median(cpus[name]):.2f} s"
        )


if __name__ == "__main__":
    main()

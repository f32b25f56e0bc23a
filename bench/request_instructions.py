"""CPU instructions per `GET /v1/users/{id}` of the real server, counted by callgrind.

Instruction counts do not move with the load of a shared machine, so small differences
between builds (what observability costs, part by part) can be told apart where timings
cannot. Each build of bench/observability_cost.py runs in turn as one worker under
`valgrind --tool=callgrind` with collection off; after a warm-up, collection is switched on
for the same span twice, idle and under a wrk run (pinned to cpu 0); the difference (every
thread of the process: the exporter's too) is divided by the requests served. Valgrind runs
the server ~50x slower, so a run serves a few thousand requests; the 1 %-sampled parts
average over few samples.

    uv run python bench/request_instructions.py [--seconds 10] [--builds off,on] [--ablation]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.service_process import running_service

from bench.observability_cost import observability_builds, user_and_token, wrk
from bench.otlp_sink import otlp_sink


def callgrind_control(*args: str) -> None:
    subprocess.run(  # noqa: S603 - our own fixed command line
        [shutil.which("callgrind_control") or "callgrind_control", *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


def counted_instructions(out_dir: Path) -> int:
    """The sum of the `totals:` lines of every dump callgrind wrote."""
    total = 0
    for dump in out_dir.glob("callgrind.out*"):
        found = re.search(r"^totals: (\d+)", dump.read_text(errors="replace"), re.MULTILINE)
        total += int(found.group(1)) if found else 0
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--builds",
        default="off,on",
        help="comma-separated: off, on, metrics, logs, traces, traces0",
    )
    parser.add_argument(
        "--ablation", action="store_true", help="also metrics, logs, traces, traces0"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (Debian package valgrind)")
    for variable in [name for name in os.environ if name.startswith("OTEL_")]:
        del os.environ[variable]  # the builds differ only by what they set
    with ExitStack() as stack:
        endpoint = stack.enter_context(otlp_sink()).endpoint
        var = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        builds = observability_builds(endpoint, ablation=True)
        ablation = ["metrics", "logs", "traces", "traces0"] if args.ablation else []
        names = args.builds.split(",") + ablation
        for number, name in enumerate(names):
            run_dir = var / f"{number}-{name}"
            out_dir = run_dir / "callgrind"
            out_dir.mkdir(parents=True)
            wrapper = [
                "valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={out_dir}/callgrind.out",
            ]  # fmt: skip
            with running_service(
                run_dir, env=builds[name], ready_timeout=600, wrapper=wrapper
            ) as service:
                user_id, token = user_and_token(service)
                url = f"{service.base_url}/v1/users/{user_id}"
                # Warm-up, not counted: longer than the span exporter's first 5 s, whose first
                # export loads its HTTP client.
                wrk(url, token, 6, 32)
                pid = str(service.process.pid)
                # The same span idle, to subtract: under valgrind the server is ~50x slower,
                # so its timed work (tickers, the exporter's wake-ups, dispatcher polls)
                # would weigh ~50x more per request than at full speed.
                callgrind_control("--instr=on", pid)
                time.sleep(args.seconds)
                callgrind_control("--instr=off", pid)
                callgrind_control("--dump", pid)
                idle = counted_instructions(out_dir)
                callgrind_control("--instr=on", pid)
                _, served = wrk(url, token, args.seconds, 32)
                callgrind_control("--instr=off", pid)
                callgrind_control("--dump", pid)
                loaded = counted_instructions(out_dir) - idle
            per_request = (loaded - idle) / served
            print(  # noqa: T201
                f"{name:>8}: {per_request:10,.0f} instructions/request "
                f"({served} requests; idle {idle / args.seconds:,.0f}/s subtracted)"
            )


if __name__ == "__main__":
    main()

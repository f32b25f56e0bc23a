"""`python -m bench.profile`: py-spy on order-service while wrk drives GET /v1/users/{id}
(or, with `--scenario orders_post`, POST /v1/orders as bench/order-body.json).

Same set-up as the benchmark (PostgreSQL schema, Redis, one pinned worker, seeded users,
observability on with production sampling and traces exported to a local OTLP sink);
writes the collapsed stacks to var/profile/profile.txt, and prints the functions
with the most samples, by themselves and with what they call.
"""

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

from bench.harness import POSTGRES_DSN, _cpus, clean_environ, service_env
from bench.measure import Load, wrk
from bench.otlp_sink import otlp_sink
from bench.seed import create_schema, drop_schema, seed
from bench.stacks import ROOT, pinned, start_server

OUT = ROOT / "var" / "profile"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--scenario", choices=("users", "orders_post"), default="users")
    args = parser.parse_args()
    server_cpu, load_cpu = _cpus()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="order-service-profile-") as tmp,
        otlp_sink() as sink,
    ):
        work = Path(tmp)
        create_schema(POSTGRES_DSN, schema)
        try:
            seeded = seed(POSTGRES_DSN, schema, args.users, work / "keys", work)
            extra = dict(item.split("=", 1) for item in args.set)
            base_env = clean_environ()
            server = start_server(
                "service",
                ["{python}", "-m", "order_service", "serve", "--port", "{port}", "--workers", "1"],
                env={**base_env, **service_env(seeded, work, sink.endpoint), **extra},
                work_dir=work,
                ready_path="/ready",
                cpu=server_cpu,
            )
            try:
                load_env = {"BENCH_PAIRS": str(seeded.pairs_file)}
                if args.scenario == "orders_post":  # no worker: the outbox just grows
                    load_env["BENCH_ORDER_BODY"] = str(ROOT / "bench" / "order-body.json")
                    load_env["BENCH_RUN_ID"] = uuid.uuid4().hex[:8]
                script = f"{args.scenario}.lua"
                load = Load(script, args.connections, args.seconds, 0, load_cpu, load_env)
                warmed = 0
                for _ in range(10):  # warm the caches: every user at least once
                    warmed += wrk(server, load, 3)["requests"]
                    if warmed >= args.users:
                        break
                driver = threading.Thread(target=wrk, args=(server, load, args.seconds + 2))
                driver.start()
                _record(server.process.pid, args.seconds, load_cpu)
                driver.join()
            finally:
                server.stop()
        finally:
            drop_schema(POSTGRES_DSN, schema)
    _summarise(OUT / "profile.txt", args.top)


def _record(pid: int, seconds: int, cpu: str | None) -> None:
    """Collapsed stacks (open them in speedscope, or flamegraph.pl) from py-spy on the load core."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250"]
    command += ["--format", "raw", "--output", str(OUT / "profile.txt"), "--nonblocking"]
    subprocess.run(pinned(cpu, command), check=True, capture_output=True)  # noqa: S603


def _summarise(raw: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"{total} samples; collapsed stacks in {raw}")  # noqa: T201
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\n-- top {top} by {title} samples")  # noqa: T201
        for frame, count in counter.most_common(top):
            print(f"{100 * count / total:6.1f}%  {frame}")  # noqa: T201


if __name__ == "__main__":
    main()

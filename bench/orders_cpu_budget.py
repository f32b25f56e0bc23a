"""`python -m bench.orders_cpu_budget`: where the CPU of `POST /v1/orders` goes, process by
process, against where the CPU of the benchmark's pgbench INSERT goes, in the same rounds.

The orders scenario compares orders/s with pgbench's tps, but the two runs do not use the
machine alike: during the orders run the pinned server, wrk and the dispatch worker share the
two cores with PostgreSQL; during pgbench's run only pgbench's client does. When the cores are
saturated, what each side gets per second is the machine's CPU divided by what one order (one
transaction) costs all the processes it keeps busy, so this prints that cost per process group:

- the server (`order-service serve`, pinned to cpu1 as in the benchmark), its PostgreSQL
  backends (found by the client ports of its connections), wrk;
- the `order-service worker` (dispatch, on cpu0) and its backends;
- pgbench's client and its backends;
- PostgreSQL's own processes (WAL writer, checkpointer, ...), shared with anything else that
  writes to this PostgreSQL;
- the rest of the machine's busy time (other sessions on a shared machine; softirqs).

Same set-up as `python -m bench --scenarios orders_post --stacks service` (bench/harness.py's
settings, seeded users, bench/wrk/orders_post.lua, bench/measure.py's pgbench script). With
`--base-src DIR` a second service and worker run the code under DIR (e.g. `git archive <commit>
src | tar -x -C /tmp/base`), in a schema migrated by that code, measured in the same rounds.
PostgreSQL must run on this machine (its processes' CPU is read from /proc).
"""

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from bench.harness import (
    BENCH_DIR,
    POSTGRES_DSN,
    _cpus,
    _create_pgbench_table,
    clean_environ,
    service_env,
)
from bench.measure import WRK_DIR
from bench.otlp_sink import otlp_sink
from bench.seed import Seeded, drop_schema, seed
from bench.stacks import PROBE_DIR, ROOT, Server, free_port, pinned, start_server

_PG_PORT = urlsplit(POSTGRES_DSN).port or 5432
_TICK = os.sysconf("SC_CLK_TCK")
_POOL_CLIENTS = 10  # the service's pool size (Settings.db_pool_max_size), as the benchmark


def _process_cpu(pid: int) -> float:
    """User + system seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _machine_busy() -> tuple[float, float]:
    """Busy CPU seconds of the whole machine so far (every core; idle, iowait and steal
    excluded), and the part of it spent in interrupts (loopback TCP is mostly softirqs)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / _TICK, (irq + softirq) / _TICK


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _database_ports(pid: int) -> set[int]:
    """Local ports of `pid`'s TCP connections to PostgreSQL."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[9] in inodes and remote_port == _PG_PORT:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def _pg_pids(ports: set[int]) -> tuple[list[int], list[int]]:
    """The backends serving these client ports, and PostgreSQL's own (non-client) processes."""
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        rows = await connection.fetch(
            "SELECT pid, client_port, backend_type FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    backends = [r["pid"] for r in rows if r["client_port"] in ports]
    own = [r["pid"] for r in rows if r["backend_type"] != "client backend"]
    return backends, own


def pg_pids(ports: set[int]) -> tuple[list[int], list[int]]:
    return asyncio.run(_pg_pids(ports))


@dataclass
class Stack:
    """One `order-service serve` and its `order-service worker`, on a schema of their own."""

    name: str
    server: Server
    worker: Server
    seeded: Seeded
    sent: int = 0  # requests so far: each run continues with new Idempotency-Keys


class Sample:
    """CPU seconds so far of each process group; subtract two to get a run's share."""

    def __init__(self, groups: Mapping[str, list[int]], children: float) -> None:
        self.groups = {
            name: sum(_process_cpu(pid) for pid in pids) for name, pids in groups.items()
        }
        self.children = children
        self.machine, self.interrupts = _machine_busy()
        self.at = time.monotonic()


def _run_orders(stack: Stack, seconds: int, cpu: str | None, run_id: str) -> dict[str, float]:
    server_backends, pg_own = pg_pids(_database_ports(stack.server.process.pid))
    worker_backends, _ = pg_pids(_database_ports(stack.worker.process.pid))
    groups = {
        "server": [stack.server.process.pid],
        "server's backends": server_backends,
        "worker": [stack.worker.process.pid],
        "worker's backends": worker_backends,
        "PostgreSQL's own processes": pg_own,
    }
    env = {
        **os.environ,
        "BENCH_WRK_DIR": str(WRK_DIR),
        "BENCH_PAIRS": str(stack.seeded.pairs_file),
        "BENCH_ORDER_BODY": str(BENCH_DIR / "order-body.json"),
        "BENCH_RUN_ID": run_id,
        "BENCH_START": str(stack.sent),
    }
    command = ["wrk", "-t1", "-c50", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(WRK_DIR / "orders_post.lua"), stack.server.url]
    before = Sample(groups, _children_cpu())
    done = subprocess.run(  # noqa: S603 - wrk from PATH, our arguments
        pinned(cpu, command), env=env, capture_output=True, text=True, check=True
    )
    after = Sample(groups, _children_cpu())
    found = re.search(r'BENCH_JSON \{"requests":(\d+).*"status":(\d+)', done.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no summary: {done.stdout}\n{done.stderr}")
    requests, failed = int(found.group(1)), int(found.group(2))
    if failed:
        raise RuntimeError(f"{failed} of {requests} orders were not accepted")
    stack.sent += requests
    shares = {name: after.groups[name] - before.groups[name] for name in groups}
    shares["wrk"] = after.children - before.children
    return _per_unit(shares, before, after, requests)


def _run_pgbench(schema: str, seconds: int, cpu: str | None, work: Path) -> dict[str, float]:
    """pgbench as bench/measure.py runs it; its backends' CPU is read until they exit."""
    script = work / "pgbench-insert.sql"
    script.write_text(
        f"INSERT INTO {schema}.bench_pgbench_orders (id, customer_id, body) "  # noqa: S608
        "VALUES (gen_random_uuid(), gen_random_uuid(), "
        '\'{"items": [{"sku": "SKU-001", "quantity": 1}], "region": "eu"}\');\n'
    )
    command = ["pgbench", "-n", "-c", str(_POOL_CLIENTS), "-j", "1", "-T", str(seconds)]
    command += ["-f", str(script), POSTGRES_DSN]
    _, pg_own = pg_pids(set())
    before = Sample({"PostgreSQL's own processes": pg_own}, _children_cpu())
    process = subprocess.Popen(  # noqa: S603 - pgbench from PATH, our arguments
        pinned(cpu, command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    backends: dict[int, float] = {}  # pid -> CPU seconds since it started, last seen
    while process.poll() is None:
        if len(backends) < _POOL_CLIENTS:
            found, _ = pg_pids(_database_ports(process.pid))
            backends.update({pid: 0.0 for pid in found if pid not in backends})
        for pid, seen in backends.items():
            backends[pid] = max(seen, _process_cpu(pid))
        time.sleep(0.05)  # sampling another process's counters until it exits
    stdout, stderr = process.communicate()
    after = Sample({"PostgreSQL's own processes": pg_own}, _children_cpu())
    count = re.search(r"number of transactions actually processed: (\d+)", stdout)
    if process.returncode != 0 or count is None:
        raise RuntimeError(f"pgbench failed: {stdout}\n{stderr}")
    shares = {
        "pgbench's backends": sum(backends.values()),
        "pgbench": after.children - before.children,
        "PostgreSQL's own processes": after.groups["PostgreSQL's own processes"]
        - before.groups["PostgreSQL's own processes"],
    }
    return _per_unit(shares, before, after, int(count.group(1)))


def _per_unit(
    shares: dict[str, float], before: Sample, after: Sample, units: int
) -> dict[str, float]:
    """µs per order (or transaction) of each group, the rest of the machine, and the rate."""
    seconds = after.at - before.at
    if not units:  # the run stalled (on this VM: a WAL fsync that took seconds); no per-unit
        return {"per second": 0.0}
    machine = after.machine - before.machine
    out = {name: cpu * 1e6 / units for name, cpu in shares.items()}
    interrupts = after.interrupts - before.interrupts
    out["interrupts (softirq)"] = interrupts * 1e6 / units
    out["rest of the machine"] = (machine - interrupts - sum(shares.values())) * 1e6 / units
    out["all"] = machine * 1e6 / units
    out["per second"] = units / seconds
    out["machine busy"] = machine / seconds / (os.cpu_count() or 1)
    return out


@contextmanager
def _stack(  # noqa: PLR0917 - one call site, every part named
    name: str,
    src: Path | None,
    work: Path,
    cpus: tuple[str | None, str | None],
    otlp: str,
    users: int,
) -> Iterator[Stack]:
    """Migrate a schema with `src`'s code (this tree's when None), seed it, start both roles."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    # Both trees alike: the harness's probe, then the tree's code, then bench/.
    python_path = os.pathsep.join([str(PROBE_DIR), str(src or ROOT / "src"), str(ROOT)])
    prefix = ["env", f"PYTHONPATH={python_path}"]
    env = {
        **clean_environ(),
        "ORDER_SERVICE_DATABASE_URL": POSTGRES_DSN,
        "ORDER_SERVICE_DATABASE_SCHEMA": schema,
    }
    subprocess.run(  # noqa: S603 - our own command line
        [*prefix, sys.executable, "-m", "order_service", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    try:
        seeded = seed(POSTGRES_DSN, schema, users, work / "keys", _own_dir(work / name))
        server_cpu, load_cpu = cpus
        settings = {**clean_environ(), **service_env(seeded, work, otlp)}
        serve = [*prefix, "{python}", "-m", "order_service", "serve", "--port", "{port}"]
        server = start_server(
            name,
            [*serve, "--workers", "1"],
            env=settings,
            work_dir=work,
            ready_path="/ready",
            cpu=server_cpu,
        )
        port = free_port()
        try:
            worker = start_server(
                f"{name}-worker",
                [*prefix, "{python}", "-m", "order_service", "worker"],
                env={**settings, "ORDER_SERVICE_WORKER_METRICS_PORT": str(port)},
                work_dir=work,
                ready_path="/metrics",
                cpu=load_cpu,
                port=port,
            )
            try:
                yield Stack(name, server, worker, seeded)
            finally:
                worker.stop()
        finally:
            server.stop()
    finally:
        drop_schema(POSTGRES_DSN, schema)


def _own_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.orders_cpu_budget", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="measured seconds per run")
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds before each stack's first run"
    )
    parser.add_argument("--users", type=int, default=1000, help="seeded customers per stack")
    parser.add_argument("--base-src", type=Path, help="a second tree's src/ to compare with")
    args = parser.parse_args()
    cpus = _cpus()
    load_cpu = cpus[1]
    runs: dict[str, list[dict[str, float]]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="orders-budget-") as tmp:
        work = Path(tmp)
        otlp = stack.enter_context(otlp_sink()).endpoint
        sources = {"this tree": None} | ({"base": args.base_src} if args.base_src else {})
        stacks = [
            stack.enter_context(_stack(name, src, work, cpus, otlp, args.users))
            for name, src in sources.items()
        ]
        pgbench_schema = stacks[0].seeded.schema
        asyncio.run(_create_pgbench_table(pgbench_schema))
        run_id = uuid.uuid4().hex[:8]
        for each in stacks:  # warm: caches, statement cache, the first batches
            _run_orders(each, args.warmup, load_cpu, run_id)
        for _ in range(args.rounds):
            for each in stacks:
                runs.setdefault(f"POST /v1/orders, {each.name}", []).append(
                    _run_orders(each, args.seconds, load_cpu, run_id)
                )
            runs.setdefault("pgbench's INSERT", []).append(
                _run_pgbench(pgbench_schema, args.seconds, load_cpu, work)
            )
    _print(runs, args.rounds)


def _print(runs: dict[str, list[dict[str, float]]], rounds: int) -> None:
    names = list(runs)
    rows = sorted(
        {key for results in runs.values() for run in results for key in run}, key=_row_order
    )
    print(f"CPU µs per order / per pgbench transaction, medians of {rounds} rounds")  # noqa: T201
    print("| | " + " | ".join(names) + " |")  # noqa: T201
    print("|---|" + "---:|" * len(names))  # noqa: T201
    for row in rows:
        cells = []
        for name in names:
            values = [run[row] for run in runs[name] if row in run]
            if not values:
                cells.append("")
                continue
            median = statistics.median(values)
            cells.append(f"{median:.0%}" if row == "machine busy" else f"{median:,.0f}")
        print(f"| {row} | " + " | ".join(cells) + " |")  # noqa: T201
    print("\nEach round (per second; server + its backends, µs per order):")  # noqa: T201
    for name in names:
        shown = ", ".join(
            f"{run['per second']:,.0f}"
            + (f" ({run['server']:.0f}+{run[_BACKENDS]:.0f})" if "server" in run else "")
            for run in runs[name]
        )
        print(f"- {name}: {shown}")  # noqa: T201


_BACKENDS = "server's backends"


_ORDER = [
    "server", "server's backends", "wrk", "worker", "worker's backends", "pgbench",
    "pgbench's backends", "PostgreSQL's own processes", "interrupts (softirq)",
    "rest of the machine", "all", "per second", "machine busy",
]  # fmt: skip


def _row_order(row: str) -> int:
    return _ORDER.index(row) if row in _ORDER else len(_ORDER)


if __name__ == "__main__":
    main()

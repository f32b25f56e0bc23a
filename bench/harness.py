"""The benchmark run: start the three stacks, seed, interleave the loads, take medians, report.

Stacks, each one worker process pinned to the server core (cpu1), wrk pinned to the load core
(cpu0):
- `ceiling`: bench/ceiling.py, bare ASGI + msgspec on uvicorn, users from memory;
- `peer`: bench/peers/fastapi_users.py, FastAPI as its docs teach it, same database;
- `service`: order-service with production settings (PostgreSQL schema of its own, Redis),
  and, as in production, no dispatcher in the server: one `order-service worker` process on
  the load core dispatches (`--in-process-dispatch` puts it back in the measured process).
Every round runs every stack once per scenario, in turn, so drift on a shared machine hits
all of them alike; the report shows the median of the rounds and the ratios.
"""

import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg

from bench import report
from bench.measure import Load, measure, median_of, pgbench
from bench.otlp_sink import otlp_sink
from bench.seed import Seeded, create_schema, drop_schema, seed
from bench.stacks import ROOT, Server, free_port, running, start_server

BENCH_DIR = Path(__file__).resolve().parent
POSTGRES_DSN = os.environ.get(
    "ORDER_SERVICE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ORDER_SERVICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Observability on with production sampling (docs/observability.md): metrics on, 1% of the
# successful requests in the access log (errors and slow requests are always logged), 1% of the
# traces exported over OTLP/HTTP, to a sink on 127.0.0.1 that the run starts (bench/otlp_sink.py).
PRODUCTION_OBSERVABILITY: Mapping[str, str] = {
    "ORDER_SERVICE_METRICS_ENABLED": "true",
    "ORDER_SERVICE_LOG_SAMPLE_RATE": "0.01",
    "OTEL_TRACES_SAMPLER": "traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.01",
}


SCENARIOS = ("users", "users_paced", "token", "orders_post", "orders_get")


@dataclass(frozen=True)
class Plan:
    """How much to measure. `quick()` checks the harness in seconds; `full()` measures."""

    mode: str
    rounds: int
    seconds: int
    warmup_seconds: int
    connections: int
    users: int
    paced_rps: int
    token_connections: int
    startup_tries: int
    server_cpu: str | None = "1"
    load_cpu: str | None = "0"
    stacks: tuple[str, ...] = ("ceiling", "peer", "service")
    service_env: Mapping[str, str] = field(default_factory=dict)
    # Extra order-service processes with other settings, measured in the same interleaved
    # rounds on GET /v1/users/{id}: an ablation ("what does this optimisation buy?") whose
    # numbers are comparable because the machine's noise hit every variant alike.
    variants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # A subset of SCENARIOS for a focused run (e.g. the orders scenarios only); None: all.
    scenarios: tuple[str, ...] | None = None
    # As in production (docs/orders.md): the API process does not dispatch; one
    # `order-service worker` process on the load core does, so the measured core does only
    # the API's work. False: the embedded default's in-process dispatcher on the server core.
    separate_worker: bool = True

    @classmethod
    def quick(cls) -> "Plan":
        return cls("quick", 1, 2, 1, 10, 200, 200, 2, 1)

    @classmethod
    def full(cls) -> "Plan":
        return cls("full", 3, 10, 3, 50, 10_000, 1000, 8, 5)


def _cpus() -> tuple[str | None, str | None]:
    return ("1", "0") if (os.cpu_count() or 1) >= 2 and shutil.which("taskset") else (None, None)


def run(plan: Plan, out_dir: Path, label: str | None = None) -> dict[str, Any]:
    """Run the whole benchmark; write `<stamp>-<mode>.json/.md` to `out_dir`, return the data."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package `wrk`)")
    server_cpu, load_cpu = _cpus() if plan.server_cpu else (None, None)
    started = time.monotonic()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    results: dict[str, Any] = {
        "meta": _meta(plan, server_cpu, load_cpu, label),
        "scenarios": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="order-service-bench-") as tmp,
        otlp_sink() as sink,
    ):
        work = Path(tmp)
        _log(f"schema {schema}: migrating and seeding {plan.users} users")
        create_schema(POSTGRES_DSN, schema)
        try:
            seeded = seed(POSTGRES_DSN, schema, plan.users, work / "keys", work)
            asyncio.run(_create_pgbench_table(schema))
            servers = _start_stacks(plan, seeded, work, server_cpu, sink.endpoint)
            workers = _start_workers(plan, servers, seeded, work, load_cpu, sink.endpoint)
            with running([*workers, *servers.values()]):
                results["ready_seconds"] = {n: s.ready_after for n, s in servers.items()}
                _run_scenarios(plan, results, servers, seeded, work, load_cpu)
            # As a user starts it: default settings (one worker per core), not pinned. A run
            # focused on some scenarios (`--scenarios`) skips it.
            if plan.scenarios is None:
                results["startup"] = _startup(plan, work, None)
        finally:
            drop_schema(POSTGRES_DSN, schema)
        # Proof that the sampled traces left the service (batched: a few exports per minute).
        results["meta"]["observability"]["otlp_exports_received"] = sink.exports
        results["meta"]["observability"]["otlp_bytes_received"] = sink.bytes
    results["meta"]["load_after"] = _loadavg()
    results["meta"]["driver_seconds"] = round(time.monotonic() - started, 1)
    paths = report.write(results, out_dir)
    print(report.table(results))  # noqa: T201 - the point of the command
    _log(f"wrote {', '.join(str(p) for p in paths)}")
    return results


def _start_stacks(
    plan: Plan, seeded: Seeded, work: Path, cpu: str | None, otlp_endpoint: str
) -> dict[str, Server]:
    python = sys.executable
    uvicorn = [python, "-m", "uvicorn", "--port", "{port}", "--loop", "uvloop"]
    uvicorn += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
    base_env = clean_environ()
    first = seeded.user_ids[0]
    servers: dict[str, Server] = {}
    if "ceiling" in plan.stacks:
        _log("starting the ceiling")
        servers["ceiling"] = start_server(
            "ceiling",
            [*uvicorn, "--factory", "bench.ceiling:create_app"],
            env={**base_env, "BENCH_USERS_JSON": str(seeded.users_json)},
            work_dir=work,
            ready_path=f"/v1/users/{first}",
            cpu=cpu,
        )
    if "peer" in plan.stacks:
        _log("starting the FastAPI peer")
        servers["peer"] = start_server(
            "peer",
            [*uvicorn, "bench.peers.fastapi_users:app"],
            env={
                **base_env,
                "BENCH_PEER_DATABASE_URL": POSTGRES_DSN.replace(
                    "postgresql://", "postgresql+asyncpg://", 1
                ),
                "BENCH_PEER_SCHEMA": seeded.schema,
                "BENCH_PEER_PUBLIC_KEY": seeded.public_key_pem,
            },
            work_dir=work,
            ready_path="/ready",
            cpu=cpu,
        )
    sw = plan.separate_worker
    if "service" in plan.stacks:
        _log("starting order-service")
        servers["service"] = start_server(
            "service",
            [python, "-m", "order_service", "serve", "--port", "{port}", "--workers", "1"],
            env={
                **base_env,
                **service_env(seeded, work, otlp_endpoint, separate_worker=sw),
                **plan.service_env,
            },
            work_dir=work,
            ready_path="/ready",
            cpu=cpu,
        )
        for variant, settings in plan.variants.items():
            _log(f"starting order-service variant {variant}: {dict(settings)}")
            servers[f"service:{variant}"] = start_server(
                f"service-{variant}",
                [python, "-m", "order_service", "serve", "--port", "{port}", "--workers", "1"],
                env={
                    **base_env,
                    **service_env(seeded, work, otlp_endpoint, separate_worker=sw),
                    **plan.service_env,
                    **settings,
                },
                work_dir=work,
                ready_path="/ready",
                cpu=cpu,
            )
    return servers


def _start_workers(  # noqa: PLR0917 - the run's parts, named at the one call site
    plan: Plan,
    servers: Mapping[str, Server],
    seeded: Seeded,
    work: Path,
    cpu: str | None,
    otlp_endpoint: str,
) -> list[Server]:
    """One `order-service worker` per service stack when `plan.separate_worker`, on the load
    core: it dispatches the benchmark's orders as a production worker Deployment would."""
    if not plan.separate_worker:
        return []
    workers = []
    for name in servers:
        if not name.startswith("service"):
            continue
        settings = plan.variants.get(name.partition(":")[2], {})
        port = free_port()
        _log(f"starting an order-service worker for {name}")
        workers.append(
            start_server(
                f"worker-{name.replace(':', '-')}",
                [sys.executable, "-m", "order_service", "worker"],
                env={
                    **clean_environ(),
                    **service_env(seeded, work, otlp_endpoint),
                    **plan.service_env,
                    **settings,
                    # Its /metrics answers once the dispatcher is wired: the readiness signal.
                    "ORDER_SERVICE_WORKER_METRICS_PORT": str(port),
                },
                work_dir=work,
                ready_path="/metrics",
                cpu=cpu,
                port=port,
            )
        )
    return workers


def clean_environ() -> dict[str, str]:
    """This process's environment without the service's or OpenTelemetry's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ORDER_SERVICE_", "OTEL_"))}


def migrate_embedded(env: Mapping[str, str]) -> None:
    """Migrate the embedded default's store under env's var dir: a step of its own, not timed
    (`make run` runs it before `serve`)."""
    subprocess.run(
        [sys.executable, "-m", "order_service", "migrate"],
        env=dict(env),
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


def seconds_to_ready(
    label: str, extra: list[str], *, env: Mapping[str, str], work_dir: Path, cpu: str | None
) -> float:
    """Start a migrated embedded default (`serve` plus `extra`), wait for /ready = 200, stop it:
    the seconds from its start to ready."""
    serve = [sys.executable, "-m", "order_service", "serve", "--port", "{port}", *extra]
    server = start_server(label, serve, env=env, work_dir=work_dir, ready_path="/ready", cpu=cpu)
    server.stop()
    return server.ready_after


def service_env(
    seeded: Seeded, work: Path, otlp_endpoint: str, *, separate_worker: bool = True
) -> dict[str, str]:
    """Production-like settings: PostgreSQL in the bench schema, Redis, keys from a directory,
    observability on with production sampling, traces exported to `otlp_endpoint`."""
    return {
        **PRODUCTION_OBSERVABILITY,
        "ORDER_SERVICE_DISPATCH_IN_SERVE": "false" if separate_worker else "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "ORDER_SERVICE_DATABASE_URL": POSTGRES_DSN,
        "ORDER_SERVICE_DATABASE_SCHEMA": seeded.schema,
        "ORDER_SERVICE_REDIS_URL": REDIS_URL,
        "ORDER_SERVICE_JWT_KEYS_DIR": str(work / "keys"),
        "ORDER_SERVICE_VAR_DIR": str(work / "var"),
        "ORDER_SERVICE_LOG_LEVEL": "INFO",
    }


def _run_scenarios(  # noqa: PLR0917 - the run's parts, named at the one call site
    plan: Plan,
    results: dict[str, Any],
    servers: Mapping[str, Server],
    seeded: Seeded,
    work: Path,
    load_cpu: str | None,
) -> None:
    scenarios: dict[str, Any] = results["scenarios"]
    service = servers.get("service")

    def load(script: str, connections: int, env: Mapping[str, str], warm: int = 0) -> Load:
        return Load(script, connections, plan.seconds, plan.warmup_seconds, load_cpu, env, warm)

    # Steady state: the first warm-up of each stack reaches every seeded user at least once.
    users_load = load(
        "users.lua", plan.connections, {"BENCH_PAIRS": str(seeded.pairs_file)}, plan.users
    )
    paced_load = load(
        "users_paced.lua",
        plan.connections,
        {
            "BENCH_PAIRS": str(seeded.pairs_file),
            "BENCH_DELAY_MS": str(round(plan.connections * 1000 / plan.paced_rps)),
        },
    )
    token_load = load(
        "token.lua", plan.token_connections, {"BENCH_LOGINS": str(seeded.logins_file)}
    )
    orders = _orders_plan(service, seeded, work) if service else None
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def record(scenario: str, stack: str, measure_once: Callable[[], dict[str, Any]]) -> None:
        if plan.scenarios is not None and scenario not in plan.scenarios:
            return
        _log(f"{scenario} / {stack}")
        runs.setdefault((scenario, stack), []).append(measure_once())

    for round_number in range(1, plan.rounds + 1):
        _log(f"round {round_number} of {plan.rounds}")
        for name, server in servers.items():
            record("users", name, partial(measure, server, users_load))
        for name, server in servers.items():
            if name != "peer":  # it cannot serve the paced rate: that run would be saturated
                record("users_paced", name, partial(measure, server, paced_load))
        if service is not None:
            record("token", "service", partial(measure, service, token_load))
            if orders is not None:
                post = load("orders_post.lua", plan.connections, orders["post_env"])
                record("orders_post", "service", partial(measure, service, post))
                if orders.get("get_env"):
                    get = load("orders_get.lua", plan.connections, orders["get_env"])
                    record("orders_get", "service", partial(measure, service, get))
        record(
            "orders_post",
            "pgbench",
            lambda: pgbench(
                POSTGRES_DSN, seeded.schema, _pool_size(plan), plan.seconds, load_cpu, work
            ),
        )
    for (scenario, stack), stack_runs in runs.items():
        scenarios.setdefault(scenario, {})[stack] = {
            "median": median_of(stack_runs),
            "runs": stack_runs,
        }
    wanted = plan.scenarios is None or "orders_post" in plan.scenarios
    if wanted and (orders is None or "post_env" not in (orders or {})):
        scenarios.setdefault("orders_post", {})["service"] = {"n/a": _orders_reason(service)}


def _pool_size(plan: Plan) -> int:
    size = plan.service_env.get("ORDER_SERVICE_DB_POOL_MAX_SIZE")
    from order_service.platform.config import Settings  # noqa: PLC0415 - defaults only

    return int(size) if size else Settings().db_pool_max_size


_ORDERS_REASON: dict[str, str] = {}


def _orders_reason(service: Server | None) -> str:
    if service is None:
        return "order-service not in this run"
    return _ORDERS_REASON.get("reason", "POST /v1/orders does not exist yet")


def _orders_plan(service: Server, seeded: Seeded, work: Path) -> dict[str, Any] | None:
    """Env for the order scenarios, or None (with the reason kept) when the route is missing."""
    body_file = BENCH_DIR / "order-body.json"
    pair = seeded.pairs_file.read_text().splitlines()[0]
    _, token = pair.split(" ", 1)
    status, answer = _post(service.port, "/v1/orders", body_file.read_bytes(), token)
    if status in {404, 405}:
        _ORDERS_REASON["reason"] = "POST /v1/orders does not exist yet"
        return None
    if status != 202:  # accepted, whatever the routing: the contract
        _ORDERS_REASON["reason"] = f"bench/order-body.json rejected ({status}): {answer[:200]!r}"
        return None
    run_id = uuid.uuid4().hex[:8]
    plan: dict[str, Any] = {
        "post_env": {
            "BENCH_PAIRS": str(seeded.pairs_file),
            "BENCH_ORDER_BODY": str(body_file),
            "BENCH_RUN_ID": run_id,
        }
    }
    # Orders for the read scenario: one per user for the first 200 users.
    lines = []
    for pair in seeded.pairs_file.read_text().splitlines()[:200]:
        _, token = pair.split(" ", 1)
        status, answer = _post(service.port, "/v1/orders", body_file.read_bytes(), token)
        order_id = _json_field(answer, "id") if status < 300 else None
        if order_id:
            lines.append(f"{order_id} {token}")
    if lines:
        orders_file = work / "orders.txt"
        orders_file.write_text("\n".join(lines) + "\n")
        plan["get_env"] = {"BENCH_ORDERS": str(orders_file)}
    return plan


def _json_field(raw: bytes, name: str) -> str | None:
    import json  # noqa: PLC0415

    try:
        value = json.loads(raw).get(name)
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None


def _post(port: int, path: str, body: bytes, token: str) -> tuple[int, bytes]:
    import http.client  # noqa: PLC0415

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            path,
            body,
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _startup(plan: Plan, work: Path, cpu: str | None) -> dict[str, Any]:
    """Seconds from `order-service serve` starting to /ready = 200, embedded default, fresh dir.

    The migration runs first and is not timed (`make run` runs it as a separate step). Measured
    with the default workers and with `--workers 1`, in turn; on the embedded default both are
    one worker now (ADR 0005), so the two rows should agree.
    """
    times: dict[str, list[float]] = {"default": [], "one_worker": []}
    base_env = clean_environ()
    for attempt in range(plan.startup_tries):
        for kind, extra in (("default", []), ("one_worker", ["--workers", "1"])):
            var_dir = work / f"embedded-{kind}-{attempt}"
            env = {**base_env, "ORDER_SERVICE_VAR_DIR": str(var_dir)}
            migrate_embedded(env)
            label = f"embedded-{kind}-{attempt}"
            times[kind].append(seconds_to_ready(label, extra, env=env, work_dir=work, cpu=cpu))
    for kind, runs in times.items():
        _log(f"start to ready ({kind}): {', '.join(f'{t:.3f}' for t in runs)} s")
    return {
        "median_seconds": statistics.median(times["default"]),
        "runs_seconds": times["default"],
        "one_worker_median_seconds": statistics.median(times["one_worker"]),
        "one_worker_runs_seconds": times["one_worker"],
    }


async def _create_pgbench_table(schema: str) -> None:
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute(
            f'CREATE TABLE "{schema}".bench_pgbench_orders ('
            "id uuid PRIMARY KEY, customer_id uuid NOT NULL, body jsonb NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
    finally:
        await connection.close()


def _meta(
    plan: Plan, server_cpu: str | None, load_cpu: str | None, label: str | None
) -> dict[str, Any]:
    return {
        "label": label,
        "mode": plan.mode,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "bench", *sys.argv[1:]]),
        "git": _git("rev-parse", "--short", "HEAD")
        + ("+dirty" if _git("status", "--porcelain") else ""),
        "machine": _machine(),
        "python": platform.python_version(),
        "packages": _versions(),
        "rounds": plan.rounds,
        "seconds": plan.seconds,
        "warmup_seconds": plan.warmup_seconds,
        "connections": plan.connections,
        "token_connections": plan.token_connections,
        "users": plan.users,
        "paced_rps": plan.paced_rps,
        "server_cpu": server_cpu,
        "load_cpu": load_cpu,
        "service_env": dict(plan.service_env),
        "observability": {
            **PRODUCTION_OBSERVABILITY,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "OTLP/HTTP sink on 127.0.0.1 (bench/otlp_sink.py)",
        },
        "variants": {name: dict(env) for name, env in plan.variants.items()},
        "scenarios": list(plan.scenarios or SCENARIOS),
        "dispatch": "separate worker on the load core"
        if plan.separate_worker
        else "in the service process",
        "load_before": _loadavg(),
    }


def _git(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - git from PATH
        ["git", *args],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return done.stdout.strip()


def _machine() -> str:
    model = "unknown cpu"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} vCPU, {platform.system()} {platform.release()}"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    names = ["uvicorn", "uvloop", "httptools", "msgspec", "asyncpg", "fastapi", "pydantic"]
    names += ["sqlalchemy", "pyjwt", "cryptography", "redis"]
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    wrk_version = (
        subprocess.run(
            ["wrk", "--version"],  # noqa: S607 - wrk from PATH
            capture_output=True,
            text=True,
            check=False,
        )
        .stdout.split("[")[0]
        .strip()
    )
    found["wrk"] = wrk_version.removeprefix("wrk ").strip()
    return found


def _loadavg() -> str:
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "n/a"


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: T201

"""Real processes for the order router's integration tests: provider simulators and workers."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from order_service.adapters.postgres.order_repository import PostgresOrderRepository
from order_service.domain.orders import Order
from tests.conftest import PostgresSchema
from tests.fakes.orders import accepted_order
from tests.service_process import free_port, service_env


@dataclass
class Simulator:
    base_url: str
    process: subprocess.Popen[bytes]

    def endpoint(self, provider_id: str) -> str:
        return f"{self.base_url}/providers/{provider_id}"

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/stats", timeout=5)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def faults(self, **changes: object) -> None:
        httpx.put(f"{self.base_url}/faults", json=changes, timeout=5).raise_for_status()


@contextmanager
def running_simulator(var_dir: Path, *args: str) -> Iterator[Simulator]:
    port = free_port()
    var_dir.mkdir(parents=True, exist_ok=True)
    with (var_dir / f"sim-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "order_service", "provider-sim", "--port", str(port), *args],
            env=service_env(var_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    # The simulator stands in for a provider on machines of its own: it must not measure our
    # CPU contention as traffic bunching, so it gets the CPU first when it has work.
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, process.pid, -10)
    simulator = Simulator(f"http://127.0.0.1:{port}", process)
    try:
        _wait_until_up(simulator)
        yield simulator
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(simulator: Simulator) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if simulator.process.poll() is not None:
            raise AssertionError("the provider simulator exited at start-up")
        try:
            simulator.stats()
        except httpx.TransportError:
            time.sleep(0.05)  # waiting for a port to open in another process
        else:
            return
    raise AssertionError("the provider simulator did not start")


def provider_json(
    provider_id: str,
    endpoint: str,
    *,
    rate: float,
    burst: int,
    cost: float = 1.0,
    timeout: float = 1.0,
    max_in_flight: int = 16,
) -> dict[str, Any]:
    return {
        "id": provider_id,
        "endpoint": endpoint,
        "regions": ["*"],
        "skus": ["*"],
        "cost": cost,
        "rate_per_second": rate,
        "burst": burst,
        "max_in_flight": max_in_flight,
        "timeout_seconds": timeout,
    }


def worker_env(
    var_dir: Path,
    schema: PostgresSchema,
    providers: Sequence[dict[str, Any]],
    **settings: object,
) -> dict[str, str]:
    extra = {
        "ORDER_SERVICE_DATABASE_URL": schema.dsn,
        "ORDER_SERVICE_DATABASE_SCHEMA": schema.schema,
        "ORDER_SERVICE_PROVIDERS": json.dumps(list(providers)),
        "ORDER_SERVICE_DB_POOL_MAX_SIZE": "4",
        **{f"ORDER_SERVICE_{k.upper()}": str(v) for k, v in settings.items()},
    }
    return service_env(var_dir, extra)


@dataclass
class Workers:
    """`order-service worker` processes, started, killed and stopped by the test."""

    var_dir: Path
    env: Mapping[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        number = len(self.processes)
        with (self.var_dir / f"worker-{number}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "order_service", "worker"],
                env=dict(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def delivering(self) -> list[subprocess.Popen[bytes]]:
        """Live workers that have logged a delivery attempt: past start-up, doing work."""
        logs = {p.pid: self.var_dir / f"worker-{n}.log" for n, p in enumerate(self.processes)}
        return [p for p in self.alive() if '"order dispatched"' in logs[p.pid].read_text()]

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    def terminate_all(self, timeout: float = 30) -> list[int]:
        for process in self.alive():
            process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=timeout) for process in self.processes]

    def logs(self) -> str:
        return "\n".join(
            path.read_text()[-3000:] for path in sorted(self.var_dir.glob("worker-*.log"))
        )


@contextmanager
def worker_fleet(var_dir: Path, env: Mapping[str, str]) -> Iterator[Workers]:
    var_dir.mkdir(parents=True, exist_ok=True)
    workers = Workers(var_dir, env)
    try:
        yield workers
    finally:
        for process in workers.alive():
            process.kill()
            process.wait()


def add_orders(schema: PostgresSchema, count: int) -> list[uuid.UUID]:
    """Accept `count` orders straight into the store (order + outbox entry, as the API does)."""

    async def add() -> list[uuid.UUID]:
        pool = await asyncpg.create_pool(
            schema.dsn, min_size=1, max_size=8, server_settings={"search_path": schema.schema}
        )
        try:
            repository = PostgresOrderRepository(pool, timeout=10)
            orders = [accepted_order() for _ in range(count)]
            semaphore = asyncio.Semaphore(8)

            async def one(order: Order) -> None:
                async with semaphore:
                    await repository.add(order)

            await asyncio.gather(*(one(order) for order in orders))
            return [order.id for order in orders]
        finally:
            await pool.close()

    return asyncio.run(add())


def status_counts(schema: PostgresSchema) -> dict[str, int]:
    async def count() -> dict[str, int]:
        connection = await asyncpg.connect(
            schema.dsn, server_settings={"search_path": schema.schema}
        )
        try:
            rows = await connection.fetch("SELECT status, count(*) FROM orders GROUP BY status")
            return {row[0]: row[1] for row in rows}
        finally:
            await connection.close()

    return asyncio.run(count())


def orders_by_id(schema: PostgresSchema) -> dict[uuid.UUID, tuple[str, str | None, int]]:
    async def read() -> dict[uuid.UUID, tuple[str, str | None, int]]:
        connection = await asyncpg.connect(
            schema.dsn, server_settings={"search_path": schema.schema}
        )
        try:
            rows = await connection.fetch("SELECT id, status, provider_ref, attempts FROM orders")
            return {row[0]: (row[1], row[2], row[3]) for row in rows}
        finally:
            await connection.close()

    return asyncio.run(read())


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.2) -> bool:
    """Poll another process's observable state until `predicate()` holds or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

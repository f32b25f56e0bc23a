"""Start the real service as a separate process on a free port and talk HTTP to it."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import FAST_ARGON2_ENV


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningService:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        """Wait until the service has logged `text` (an observable event, not a guess)."""
        deadline = time.monotonic() + timeout
        while text not in self.logs():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged within {timeout}s:\n{self.logs()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait for a graceful exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def service_env(var_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDER_SERVICE_")}
    env.update(FAST_ARGON2_ENV)
    env["ORDER_SERVICE_VAR_DIR"] = str(var_dir)
    env.update(extra or {})
    return env


def run_cli(*args: str, env: Mapping[str, str], stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "order_service", *args],
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"order-service {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@contextmanager
def running_service(
    var_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    migrate: bool = True,
    workers: int = 1,
    ready_timeout: float = 20.0,
    wait_for: str = "/ready",
    wrapper: Sequence[str] = (),
) -> Iterator[RunningService]:
    """The service in its own process, ready to serve; stopped with SIGTERM afterwards.

    `wrapper` runs the server under another program (a profiler: `valgrind ...`)."""
    full_env = service_env(var_dir, env)
    if migrate:
        run_cli("migrate", env=full_env)
    port = free_port()
    log_path = var_dir / f"service-{port}.log"
    var_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *wrapper,
                sys.executable,
                "-m",
                "order_service",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = RunningService(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(service, ready_timeout, wait_for)
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(service: RunningService, timeout: float, path: str) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=service.base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise AssertionError(f"service exited early:\n{service.logs()}")
            try:
                if client.get(path).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            # Polling a process we do not control; this is waiting for a port, not synchronising.
            time.sleep(0.05)
    raise AssertionError(f"service not ready within {timeout}s:\n{service.logs()}")

"""The real Prometheus server (Debian package `prometheus`) as a process of a test."""

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import unavailable
from tests.service_process import free_port

READY_SECONDS = 30.0


@contextmanager
def running_prometheus(tmp_path: Path, config: str, *flags: str) -> Iterator[str]:
    """Prometheus with this YAML configuration on a free 127.0.0.1 port, ready; yields its URL.

    Its data and log stay under tmp_path. Without the binary the test skips on a laptop and
    fails under CI=true.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        unavailable("prometheus (Debian package prometheus)", FileNotFoundError("prometheus"))
    assert binary is not None
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(config)
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                *flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        # Polling a process we started until it listens; not synchronising our own code.
        time.sleep(0.1)
    raise AssertionError(f"prometheus not ready within {READY_SECONDS}s:\n{log_path.read_text()}")

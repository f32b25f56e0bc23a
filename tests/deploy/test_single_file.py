"""The single-file executable: built the way `make dist` builds it, started, and serving."""

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.deploy.tools import REPO, run
from tests.service_process import free_port, service_env


def _build(dist: Path) -> Path:
    env = {**os.environ, "DIST_DIR": str(dist)}
    result = run([str(REPO / "deploy" / "dist.sh"), "x86_64"], env=env, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (executable,) = dist.glob("order-service-*-linux-x86_64.pex")
    return executable


def test_the_x86_64_executable_carries_its_version_and_checksums_and_serves(
    tmp_path: Path,
) -> None:
    dist = tmp_path / "dist"
    executable = _build(dist)
    (wheel,) = dist.glob("order_service-*-py3-none-any.whl")
    (sdist,) = dist.glob("order_service-*.tar.gz")
    version = wheel.name.split("-")[1]
    assert executable.name == f"order-service-{version}-linux-x86_64.pex"

    sums = {
        name: digest
        for digest, name in (
            line.split("  ", 1) for line in (dist / "SHA256SUMS").read_text().splitlines()
        )
    }
    assert set(sums) == {executable.name, wheel.name, sdist.name}
    for name, digest in sums.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name

    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = service_env(var_dir)
    shown = run([str(executable), "--version"], env=env)
    assert shown.stdout.strip() == version, shown.stderr

    migrated = run([str(executable), "migrate"], env=env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        assert _ready_status(f"http://127.0.0.1:{port}", process) == 200, log_path.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
        assert "Application shutdown complete" in log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _ready_status(base_url: str, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return -1
            try:
                status = client.get("/ready").status_code
            except httpx.TransportError:
                status = 0
            if status == 200:
                return status
            # Waiting for a port of a process we started; not synchronising our own code.
            time.sleep(0.1)
    return 0

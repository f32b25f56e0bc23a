"""Starting and stopping the servers under test, each pinned to the server core."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE_DIR = Path(__file__).resolve().parent / "probe"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pinned(cpu: str | None, command: Sequence[str]) -> list[str]:
    """`command` run on one core, when taskset exists and a core is given."""
    if cpu is None or shutil.which("taskset") is None:
        return list(command)
    return ["taskset", "-c", cpu, *command]


def http_get(port: int, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """A minimal HTTP/1.1 GET on 127.0.0.1: no client library's start-up in the timings."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return status, body


def _dechunk(body: bytes) -> bytes:
    out = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        body = rest[size + 2 :]
    return b"".join(out)


@dataclass
class Server:
    """One server process under test."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    probe_dir: Path
    log_path: Path
    started_at: float
    ready_after: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self, last: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-last:]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def probe_snapshot(self, timeout: float = 5.0) -> dict[str, object] | None:
        """GC pauses and loop lag recorded by bench/probe since the previous snapshot."""
        import json  # noqa: PLC0415 - only the harness process needs it here

        stats = self.probe_dir / "stats.json"
        stats.unlink(missing_ok=True)
        (self.probe_dir / "dump-request").touch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stats.exists():
                loaded: dict[str, object] = json.loads(stats.read_text())
                return loaded
            time.sleep(0.01)  # waiting on another process's file, not synchronising our own
        (self.probe_dir / "dump-request").unlink(missing_ok=True)
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    name: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    work_dir: Path,
    ready_path: str,
    cpu: str | None,
    ready_headers: Mapping[str, str] | None = None,
    port: int | None = None,
    timeout: float = 60.0,
) -> Server:
    """Start `command` (which must listen on {port}) and wait until `ready_path` answers 200."""
    port = port or free_port()
    probe_dir = work_dir / f"probe-{name}"
    probe_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / f"{name}.log"
    full_env = dict(env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(PROBE_DIR), str(ROOT)])
    full_env["BENCH_PROBE_DIR"] = str(probe_dir)
    argv = [part.format(port=port, python=sys.executable) for part in command]
    with log_path.open("wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
            pinned(cpu, argv), env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    server = Server(name, port, process, probe_dir, log_path, started)
    server.ready_after = wait_ready(server, ready_path, ready_headers, timeout)
    return server


def wait_ready(
    server: Server, path: str, headers: Mapping[str, str] | None, timeout: float
) -> float:
    """Seconds from process start until `path` answered 200."""
    deadline = server.started_at + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.logs()}")
        with contextlib.suppress(OSError, ValueError, IndexError):
            status, _ = http_get(server.port, path, headers)
            if status == 200:
                return time.monotonic() - server.started_at
        time.sleep(0.005)  # polling a port of another process
    server.stop()
    raise RuntimeError(f"{server.name} not ready within {timeout}s:\n{server.logs()}")


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    try:
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()

"""Start-up, readiness and graceful shutdown of the real process."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service_process import running_service, service_env


def test_a_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path: Path) -> None:
    env = service_env(tmp_path, {"ORDER_SERVICE_HTTP_PORT": "eighty"})
    result = subprocess.run(
        [sys.executable, "-m", "order_service", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "order-service: invalid setting ORDER_SERVICE_HTTP_PORT: Expected `int`, got `str`"
    ]


def test_sigterm_lets_an_in_flight_request_finish_then_exits_zero(tmp_path: Path) -> None:
    with running_service(tmp_path) as service:
        port = int(service.base_url.rsplit(":", 1)[1])
        body = b'{"email": "slow@example.com", "name": "Slow", "password": "correct horse battery"}'
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(
                b"POST /v1/users HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
                b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10]
            )
            # A full round trip on another connection: by then the loop has read our head too.
            httpx.get(f"{service.base_url}/live", timeout=5)
            service.process.send_signal(15)
            service.wait_for_log("readiness is now false")
            slow.sendall(body[10:])
            response = slow.recv(65536)
        assert response.startswith(b"HTTP/1.1 201"), response
        assert service.process.wait(timeout=15) == 0
    assert "draining" in service.logs()


def test_readiness_names_the_dependency_that_fails(tmp_path: Path) -> None:
    with running_service(
        tmp_path, env={"ORDER_SERVICE_REDIS_URL": "redis://127.0.0.1:1/0"}, wait_for="/live"
    ) as service:
        started = time.monotonic()
        response = httpx.get(f"{service.base_url}/ready", timeout=10)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "failed"
    assert "redis" not in body["checks"]["database"].get("error", "")
    assert elapsed < 2.5  # each check is bounded by its own short budget

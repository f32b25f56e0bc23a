"""One scrape of the real server returns the totals of all its worker processes, exactly."""

import http.client
import os
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from order_service.platform.metrics import TICK_SECONDS
from tests.conftest import unavailable
from tests.integration.order_processes import wait_until
from tests.service_process import RunningService, running_service

BATCH = 40
MAX_BATCHES = 50


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool (Debian package prometheus)", FileNotFoundError("promtool"))
    assert found is not None
    return found


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def leave_values_of_a_previous_run(directory: Path) -> None:
    """What a crashed earlier run leaves behind: counter files that must not be added to ours."""
    script = (
        "from prometheus_client import Counter;"
        "Counter('http_requests', '', ['method', 'handler', 'code'])"
        ".labels('GET', '/openapi.json', '200').inc(1000)"
    )
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert list(directory.glob("counter_*.db"))


def access_pids(service: RunningService) -> set[str]:
    """The worker processes that wrote an access-log line."""
    return {
        line.split('"pid":', 1)[1].split(",", 1)[0]
        for line in service.logs().splitlines()
        if '"order_service.access"' in line
    }


def test_a_scrape_sums_every_worker_and_passes_promtool(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    leave_values_of_a_previous_run(metrics_dir)
    env = {"ORDER_SERVICE_LOG_SAMPLE_RATE": "1", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with running_service(tmp_path, env=env, workers=2) as service:
        port = int(service.base_url.rsplit(":", 1)[1])

        def one(index: int) -> int:
            # A fresh connection each time, so the kernel spreads them over both workers.
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", "/openapi.json" if index % 2 else f"/no/such/{index}")
                return connection.getresponse().status
            finally:
                connection.close()

        # Batches until both workers have served some (the second may still be starting, and
        # the kernel may favour one), so the scrape really has to add two processes' values.
        statuses: Counter[int] = Counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(MAX_BATCHES):
                statuses.update(pool.map(one, range(BATCH)))
                if len(access_pids(service)) == 2:
                    break
        sent = statuses.total()
        assert statuses == {200: sent // 2, 404: sent // 2}
        assert len(access_pids(service)) == 2, "both workers must serve, or the sum proves nothing"
        scrapes: list[str] = []

        def counted(text: str) -> list[float | None]:
            requests = samples(text, "http_requests_total")
            durations = samples(text, "http_request_duration_seconds_count")
            return [
                requests.get((("code", "200"), ("handler", "/openapi.json"), ("method", "GET"))),
                requests.get((("code", "404"), ("handler", "unmatched"), ("method", "GET"))),
                durations.get((("handler", "/openapi.json"),)),
            ]

        def scrape_has_every_request() -> bool:
            # Each worker writes its counts to the shared files every TICK_SECONDS (0.1 s), one
            # series after another: a scrape may land between two of them, so all must match.
            scrapes.append(httpx.get(f"{service.base_url}/metrics", timeout=10).text)
            return counted(scrapes[-1]) == [sent // 2] * 3

        complete = wait_until(scrape_has_every_request, timeout=10, interval=TICK_SECONDS)
        text = scrapes[-1]

    assert complete, f"after {len(scrapes)} scrapes: {counted(text)}, expected {sent // 2} each"
    assert samples(text, "process_workers")[()] == 2
    # Both workers' dispatchers report the shared outbox and the simulator's circuit: one
    # series each over live processes (no pid label, nothing left by a dead process).
    assert list(samples(text, "order_outbox_depth")) == [()]
    assert list(samples(text, "order_provider_circuit_state")) == [(("provider", "simulator"),)]
    # The render pools of both workers add up in one series each (livesum, no pid label).
    assert samples(text, "image_render_pool_in_flight") == {(): 0.0}
    assert samples(text, "image_render_pool_queued") == {(): 0.0}
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == ""
    assert checked.stderr.strip() == ""

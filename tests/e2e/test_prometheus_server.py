"""The real Prometheus scrapes the real service; every dashboard and rule query returns data."""

import contextlib
import io
import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.otlp_receiver import otlp_receiver
from tests.prometheus_process import running_prometheus
from tests.service_process import (
    RunningService,
    run_cli,
    running_service,
    service_env,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "order-service.json"
JOB = "order-service"
ADMIN = "root@example.com"
PASSWORD = "correct horse battery staple"
# Waiting on processes we do not control; bounded, and each wait ends as soon as it can.
PATIENCE_SECONDS = 40.0


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$job", JOB).replace("$__rate_interval", "30s")
            assert "$" not in expr, expr
            queries.append(expr)
    return queries


def recording_rules() -> list[str]:
    return re.findall(r"^\s+- record: (\S+)$", RULES.read_text(), flags=re.MULTILINE)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[RunningService, httpx.Client]]:
    """Prometheus scraping the service, which traces every request (to a test receiver)."""
    service_dir = tmp_path / "service"
    env = service_env(service_dir)
    run_cli("migrate", env=env)
    run_cli("create-admin", "--email", ADMIN, "--password-stdin", env=env, stdin=PASSWORD + "\n")
    with ExitStack() as stack:
        receiver = stack.enter_context(otlp_receiver())
        traced = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_TRACES_SAMPLER": "always_on",
        }
        service = stack.enter_context(running_service(service_dir, env=traced, migrate=False))
        target = service.base_url.removeprefix("http://")
        config = (
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{RULES}']\n"
            f"scrape_configs: [{{job_name: {JOB}, static_configs: [{{targets: ['{target}']}}]}}]\n"
        )
        url = stack.enter_context(
            running_prometheus(tmp_path, config, "--enable-feature=exemplar-storage")
        )
        with httpx.Client(base_url=url, timeout=5) as api:
            yield service, api


def query(api: httpx.Client, expr: str) -> list[dict[str, Any]]:
    try:
        reply = api.get("/api/v1/query", params={"query": expr})
    except httpx.TransportError:
        return []
    body = reply.json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} within {PATIENCE_SECONDS}s")


def test_every_dashboard_and_rule_query_returns_data(
    prometheus: tuple[RunningService, httpx.Client],
) -> None:
    service, api = prometheus
    with httpx.Client(base_url=service.base_url, timeout=10) as client:
        issued = client.post("/v1/auth/token", json={"email": ADMIN, "password": PASSWORD})
        admin = {"authorization": f"Bearer {issued.json()['access_token']}"}

        image = client.post("/v1/images", content=png(), headers=admin)
        assert image.status_code == 201, image.text
        thumbnail = f"/v1/images/{image.json()['id']}/thumbnail"

        orders: list[str] = []  # locations of the placed orders

        def traffic() -> None:
            # An order, so the embedded dispatcher's series (deliveries, limiter wait) exist.
            placed = client.post(
                "/v1/orders",
                json={"items": [{"sku": "sku-1", "quantity": 1}], "region": "eu-west"},
                headers={**admin, "idempotency-key": f"prometheus-{len(orders)}"},
            )
            assert placed.status_code == 202, placed.text
            orders.append(placed.headers["location"])
            for _ in range(10):
                assert client.get("/openapi.json").status_code == 200
            assert client.get("/no/such/path").status_code == 404
            assert client.get("/v1/search", params={"q": "root"}, headers=admin).status_code == 200
            rendered = client.get(thumbnail, params={"w": 16, "h": 16}, headers=admin)
            assert rendered.status_code == 200, rendered.text
            refused = client.post("/v1/images", content=b"not an image", headers=admin)
            assert 400 <= refused.status_code < 500

        traffic()
        # At least three scrapes, so every rate() has two points inside its window.
        wait_for(
            lambda: (
                (r := query(api, f'count_over_time(up{{job="{JOB}"}}[1m])'))
                and float(r[0]["value"][1]) >= 3
            ),
            "three scrapes of the service",
        )
        traffic()
        records = recording_rules()
        assert len(records) >= 18
        wait_for(lambda: all(query(api, name) for name in records), "every recording rule")

    target = api.get("/api/v1/targets").json()["data"]["activeTargets"][0]
    assert target["health"] == "up", target
    assert target["lastError"] == ""
    groups = api.get("/api/v1/rules").json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    alerts = re.findall(r"^\s+- alert: (\S+)$", RULES.read_text(), flags=re.MULTILINE)
    assert sorted(rule["name"] for rule in rules) == sorted([*records, *alerts])
    assert {rule["health"] for rule in rules} == {"ok"}, [r for r in rules if r["health"] != "ok"]
    # The dispatcher reports the outbox every few seconds and delivers asynchronously.
    with contextlib.suppress(AssertionError):  # the assertion below names what stayed empty
        wait_for(lambda: all(query(api, e) for e in dashboard_queries()), "dashboard data")
    empty = [expr for expr in dashboard_queries() if not query(api, expr)]
    assert empty == []
    # Prometheus read OpenMetrics with exemplars: the traced requests' ids on latency buckets.
    wait_for(lambda: exemplars(api), "an exemplar on http_request_duration_seconds")
    trace_ids = {e["labels"]["trace_id"] for series in exemplars(api) for e in series["exemplars"]}
    assert all(len(trace_id) == 32 for trace_id in trace_ids)


def exemplars(api: httpx.Client) -> list[dict[str, Any]]:
    reply = api.get(
        "/api/v1/query_exemplars",
        params={
            "query": 'http_request_duration_seconds_bucket{handler="/openapi.json"}',
            "start": time.time() - 300,
            "end": time.time() + 60,
        },
    ).json()
    assert reply["status"] == "success", reply
    found: list[dict[str, Any]] = reply["data"]
    return found

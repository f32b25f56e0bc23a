"""The canary analysis, for real: the AnalysisTemplates' PromQL, evaluated by a real Prometheus.

Two instances of the service run on 127.0.0.1: a "stable" one, and a "canary" whose real setting
ORDER_SERVICE_MAX_CONCURRENT_REQUESTS=1 makes it shed concurrent requests with 503s. Prometheus
(the Debian package) scrapes both, labelling each target with a pod-template hash the way the
ServiceMonitor's podTargetLabels does in the cluster. Each AnalysisTemplate of the prod overlay is
then evaluated with its arguments filled in, through Prometheus's HTTP API, exactly as Argo
Rollouts would: the analysis passes for the stable and fails for the canary.
"""

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.deploy.k8s import Manifest, render
from tests.prometheus_process import running_prometheus
from tests.service_process import RunningService, running_service

STABLE_HASH = "5d4f7c9b8"
CANARY_HASH = "7b9c6d5f4"
# Load per instance: bounded in count and time, to 127.0.0.1 only.
CLIENTS = 8
REQUESTS_PER_INSTANCE = 3000
# Long enough for several 1s scrapes, so rate() has samples on both sides of the load.
LOAD_SECONDS = 6.0
# Real settings for both instances: no login throttle in the way of a load test.
COMMON_ENV = {"ORDER_SERVICE_LOGIN_MAX_FAILURES_PER_CLIENT": "1000000"}
CANARY_ENV = {**COMMON_ENV, "ORDER_SERVICE_MAX_CONCURRENT_REQUESTS": "1"}


@dataclass(frozen=True)
class Metric:
    template: str
    query: str
    success_condition: str


@dataclass
class Load:
    sent: int = 0
    server_errors: int = 0


def _metrics(manifests: list[Manifest], canary_hash: str) -> list[Metric]:
    """Every metric of every AnalysisTemplate, its {{args.*}} filled in as Argo Rollouts does."""
    metrics = []
    for template in (m for m in manifests if m["kind"] == "AnalysisTemplate"):
        args = {arg["name"]: arg.get("value") for arg in template["spec"]["args"]}
        args["canary-hash"] = canary_hash

        def fill(text: str, args: dict[str, str | None] = args) -> str:
            def value(match: re.Match[str]) -> str:
                filled = args[match.group(1)]
                assert filled is not None, f"argument {match.group(1)} has no value"
                return filled

            return re.sub(r"\{\{args\.([a-z0-9-]+)\}\}", value, text)

        for metric in template["spec"]["metrics"]:
            prometheus = metric["provider"]["prometheus"]
            metrics.append(
                Metric(
                    template["metadata"]["name"],
                    fill(prometheus["query"]),
                    fill(metric["successCondition"]),
                )
            )
    assert {m.template for m in metrics} == {
        "order-service-success-rate",
        "order-service-latency-p99",
    }
    return metrics


def _succeeds(condition: str, result: list[float]) -> bool:
    """Argo's successCondition for the one shape our templates use: `result[0] OP NUMBER`."""
    match = re.fullmatch(r"result\[0\] (>=|<=) ([0-9.]+)", condition)
    assert match, f"successCondition {condition!r} is not of the form this test evaluates"
    if not result:
        return False  # Argo: an empty result is an error, never a success
    threshold = float(match.group(2))
    return result[0] >= threshold if match.group(1) == ">=" else result[0] <= threshold


def _prometheus_config(targets: dict[str, str]) -> str:
    """Scrape each target every second, labelled with its pod-template hash."""
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
        "scrape_configs": [
            {
                "job_name": "order-service",
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [address], "labels": {"rollouts_pod_template_hash": pod_hash}}
                    for pod_hash, address in targets.items()
                ],
            }
        ],
    }
    return yaml.safe_dump(config)


def _wait_for(condition: Callable[[], bool], timeout: float, explain: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        # Polling servers we started until they report a state; not synchronising our own code.
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s: {explain()}")


def _query(prometheus: str, promql: str) -> list[float]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5.0)
    body = response.json()
    assert body["status"] == "success", body
    data = body["data"]
    if data["resultType"] == "scalar":
        return [float(data["result"][1])]
    return [float(sample["value"][1]) for sample in data["result"]]


async def _register_load(service: RunningService, load: Load) -> None:
    """Register new users from CLIENTS concurrent clients (argon2 hashing on every request)."""
    deadline = time.monotonic() + LOAD_SECONDS
    budget = iter(range(REQUESTS_PER_INSTANCE))

    async def client(http: httpx.AsyncClient) -> None:
        for _ in budget:
            if time.monotonic() > deadline:
                return
            response = await http.post(
                "/v1/users",
                json={
                    "email": f"canary-{uuid.uuid4().hex}@example.com",
                    "name": "Load",
                    "password": "correct horse battery staple",
                },
            )
            load.sent += 1
            load.server_errors += response.status_code >= 500

    limits = httpx.Limits(max_connections=CLIENTS)
    async with (
        httpx.AsyncClient(base_url=service.base_url, timeout=10.0, limits=limits) as http,
        asyncio.TaskGroup() as group,
    ):
        for _ in range(CLIENTS):
            group.create_task(client(http))


def _scraped_requests(prometheus: str, pod_hash: str) -> float:
    result = _query(
        prometheus,
        f'sum(http_requests_total{{rollouts_pod_template_hash="{pod_hash}",handler="/v1/users"}})',
    )
    return result[0] if result else 0.0


def _wait_until_scraped(prometheus: str, pod_hash: str, sent: int) -> None:
    _wait_for(
        lambda: _scraped_requests(prometheus, pod_hash) >= sent,
        30,
        lambda: f"{pod_hash}: scraped {_scraped_requests(prometheus, pod_hash)} of {sent}",
    )


@pytest.mark.timeout(180)
def test_analysis_templates_pass_the_stable_and_fail_the_canary(tmp_path: Path) -> None:
    metrics = {
        pod_hash: _metrics(render("prod"), pod_hash) for pod_hash in (STABLE_HASH, CANARY_HASH)
    }
    with ExitStack() as stack:
        stable = stack.enter_context(running_service(tmp_path / "stable", env=COMMON_ENV))
        canary = stack.enter_context(running_service(tmp_path / "canary", env=CANARY_ENV))
        services = {STABLE_HASH: stable, CANARY_HASH: canary}
        targets = {h: s.base_url.removeprefix("http://") for h, s in services.items()}
        prometheus = stack.enter_context(
            running_prometheus(tmp_path, _prometheus_config(targets), "--log.level=warn")
        )
        _wait_for(
            lambda: _query(prometheus, 'sum(up{job="order-service"})') == [2.0],
            30,
            lambda: f"targets not up: {httpx.get(f'{prometheus}/api/v1/targets').text[:2000]}",
        )

        loads = {pod_hash: Load() for pod_hash in services}

        async def drive() -> None:
            async with asyncio.TaskGroup() as group:
                for pod_hash, service in services.items():
                    group.create_task(_register_load(service, loads[pod_hash]))

        asyncio.run(drive())
        assert loads[STABLE_HASH].server_errors == 0
        assert loads[CANARY_HASH].server_errors > 0.05 * loads[CANARY_HASH].sent, loads

        # Until Prometheus has scraped every request we sent.
        for pod_hash, load in loads.items():
            _wait_until_scraped(prometheus, pod_hash, load.sent)

        outcomes = {
            pod_hash: {
                metric.template: (
                    _succeeds(metric.success_condition, values := _query(prometheus, metric.query)),
                    values,
                )
                for metric in pod_metrics
            }
            for pod_hash, pod_metrics in metrics.items()
        }

    stable_outcome = outcomes[STABLE_HASH]
    canary_outcome = outcomes[CANARY_HASH]
    assert all(passed for passed, _ in stable_outcome.values()), stable_outcome
    assert not canary_outcome["order-service-success-rate"][0], canary_outcome
    success_rate = canary_outcome["order-service-success-rate"][1][0]
    assert success_rate < 0.99, canary_outcome

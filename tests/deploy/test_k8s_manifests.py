"""The Kubernetes manifests: valid against the schemas, and saying what the design requires."""

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.k8s import K8S, OVERLAYS, Manifest, named, pod_specs, render, validate
from tests.deploy.tools import REPO, run

CHECKOV = "checkov==3.3.30"


@pytest.fixture(scope="module", params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    overlay: str = request.param
    return render(overlay)


def _config(manifests: list[Manifest]) -> dict[str, str]:
    maps = [m for m in manifests if m["kind"] == "ConfigMap"]
    assert len(maps) == 1
    data: dict[str, str] = maps[0]["data"]
    return data


def _containers(spec: Manifest) -> list[Manifest]:
    containers: list[Manifest] = [*spec.get("initContainers", []), *spec["containers"]]
    return containers


def test_every_rendered_object_is_valid_against_its_schema(manifests: list[Manifest]) -> None:
    assert len(manifests) >= 15
    for manifest in manifests:
        validate(manifest)


def test_a_misspelt_field_is_rejected_by_the_rollout_crd_schema(
    manifests: list[Manifest],
) -> None:
    rollout = json.loads(json.dumps(named(manifests, "Rollout", "order-service")))
    rollout["spec"]["strategy"]["canary"]["canaryServce"] = "typo"
    with pytest.raises(Exception, match="canaryServce"):
        validate(rollout)


def test_serve_is_a_rollout_of_4_replicas_with_the_canary_steps(
    manifests: list[Manifest],
) -> None:
    rollout = named(manifests, "Rollout", "order-service")
    assert rollout["spec"]["replicas"] == 4
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["steps"] == [
        {"setWeight": 25},
        {"pause": {"duration": "30s"}},
        {"setWeight": 50},
        {"pause": {"duration": "1m"}},
    ]
    for service in (canary["stableService"], canary["canaryService"]):
        named(manifests, "Service", service)
    templates = {t["templateName"] for t in canary["analysis"]["templates"]}
    for template in templates:
        named(manifests, "AnalysisTemplate", template)
    assert canary["analysis"]["args"] == [
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
    ]
    containers = rollout["spec"]["template"]["spec"]["containers"]
    assert containers[0]["args"] == ["serve"]


def test_worker_is_a_deployment_running_the_worker_command(manifests: list[Manifest]) -> None:
    worker = named(manifests, "Deployment", "order-service-worker")
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]


def test_analysis_templates_query_our_own_metrics_for_the_canary_only(
    manifests: list[Manifest],
) -> None:
    success = named(manifests, "AnalysisTemplate", "order-service-success-rate")
    latency = named(manifests, "AnalysisTemplate", "order-service-latency-p99")
    success_query = success["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    latency_query = latency["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    assert "http_requests_total{" in success_query
    assert 'code!~"5.."' in success_query
    assert "http_request_duration_seconds_bucket{" in latency_query
    assert "histogram_quantile(0.99" in latency_query
    for query in (success_query, latency_query):
        assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in query
    for template in (success, latency):
        metric = template["spec"]["metrics"][0]
        assert re.fullmatch(
            r"result\[0\] (>=|<=) \{\{args\.[a-z0-9-]+\}\}", metric["successCondition"]
        )
        assert metric["failureLimit"] >= 1


def _pre_stop_pause(container: Manifest) -> int:
    if "lifecycle" not in container:
        return 0
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    match = re.fullmatch(r"import time; time\.sleep\((\d+)\)", command[-1])
    assert match, command
    return int(match.group(1))


def test_serve_probes_live_ready_and_startup_and_pauses_before_sigterm(
    manifests: list[Manifest],
) -> None:
    rollout = named(manifests, "Rollout", "order-service")
    container = rollout["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/live"
    assert _pre_stop_pause(container) >= 5, "endpoints need time to drop the pod"


def test_worker_is_probed_on_its_metrics_listener(manifests: list[Manifest]) -> None:
    worker = named(manifests, "Deployment", "order-service-worker")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert env["ORDER_SERVICE_WORKER_METRICS_PORT"] == str(port["containerPort"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "http"}


def test_grace_period_covers_the_pause_and_the_drain(manifests: list[Manifest]) -> None:
    drain = float(_config(manifests)["ORDER_SERVICE_SHUTDOWN_GRACE_SECONDS"])
    for name, spec in pod_specs(manifests):
        pause = _pre_stop_pause(spec["containers"][0])
        margin = spec["terminationGracePeriodSeconds"] - (pause + drain)
        assert margin >= 10, f"{name}: grace period leaves {margin}s after preStop and drain"


def test_every_container_is_hardened_and_bounded(manifests: list[Manifest]) -> None:
    for name, spec in pod_specs(manifests):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in _containers(spec):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, name
            assert set(resources["limits"]) == {"cpu", "memory"}, name
            mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert _config(manifests)["ORDER_SERVICE_VAR_DIR"] in mounts, name


def test_configuration_comes_from_the_configmap_and_secrets_from_the_secret(
    manifests: list[Manifest],
) -> None:
    config = named(manifests, "ConfigMap", _config_name(manifests))
    for name, spec in pod_specs(manifests):
        for container in _containers(spec):
            assert container["envFrom"] == [
                {"configMapRef": {"name": config["metadata"]["name"]}}
            ], name
            from_secret = {
                env["name"]: env["valueFrom"]["secretKeyRef"]["name"]
                for env in container["env"]
                if "secretKeyRef" in env.get("valueFrom", {})
            }
            assert from_secret == {
                "ORDER_SERVICE_DATABASE_URL": "order-service-secrets",
                "ORDER_SERVICE_JWT_PRIVATE_KEYS": "order-service-secrets",
            }, name


def _config_name(manifests: list[Manifest]) -> str:
    names = [m["metadata"]["name"] for m in manifests if m["kind"] == "ConfigMap"]
    assert names[0].startswith("order-service-config-"), "generated name carries a hash"
    name: str = names[0]
    return name


def test_hpa_pdb_networkpolicy_and_servicemonitor_point_at_our_pods(
    manifests: list[Manifest],
) -> None:
    hpa = named(manifests, "HorizontalPodAutoscaler", "order-service")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "order-service",
    }
    assert hpa["spec"]["minReplicas"] >= 4
    rollout = named(manifests, "Rollout", "order-service")
    serve_labels = rollout["spec"]["template"]["metadata"]["labels"]
    pdb = named(manifests, "PodDisruptionBudget", "order-service")
    assert _selects(pdb["spec"]["selector"]["matchLabels"], serve_labels)
    policy = named(manifests, "NetworkPolicy", "order-service")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert _selects(policy["spec"]["podSelector"]["matchLabels"], serve_labels)
    monitor = named(manifests, "ServiceMonitor", "order-service")
    metrics = named(manifests, "Service", "order-service-metrics")
    assert _selects(monitor["spec"]["selector"]["matchLabels"], metrics["metadata"]["labels"])
    assert _selects(metrics["spec"]["selector"], serve_labels)
    assert "rollouts-pod-template-hash" in monitor["spec"]["podTargetLabels"]


def _selects(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_finds_nothing_beyond_the_justified_exceptions(
    overlay: str, tmp_path: Path
) -> None:
    uv = shutil.which("uv")
    assert uv, "uv runs checkov in its own environment (it pins packages our tests need newer)"
    rendered = tmp_path / f"{overlay}.yaml"
    manifests = render(overlay)
    # checkov knows Deployments, not Argo Rollouts: give it the Rollout's pod template as a
    # Deployment so the serve pods get the same policy checks as the worker's.
    as_deployments = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**m["metadata"], "name": f"{m['metadata']['name']}-rollout"},
            "spec": {k: m["spec"][k] for k in ("replicas", "selector", "template")},
        }
        for m in manifests
        if m["kind"] == "Rollout"
    ]
    assert as_deployments
    rendered.write_text(yaml.safe_dump_all([*manifests, *as_deployments], sort_keys=False))
    result = run(
        [
            uv,
            "tool",
            "run",
            "--from",
            CHECKOV,
            "checkov",
            "--config-file",
            str(K8S / ".checkov.yaml"),
            "--file",
            str(rendered),
            "--output",
            "json",
            "--quiet",
        ],
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    passed = sum(r["summary"]["passed"] for r in reports)
    failed = sum(r["summary"]["failed"] for r in reports)
    assert failed == 0
    assert passed >= 50, "checkov ran its Kubernetes checks"

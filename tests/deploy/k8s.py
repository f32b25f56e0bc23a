"""Render the kustomize overlays and validate every object against the schemas kept offline.

Built-in kinds are checked with kubernetes-validate (the Kubernetes OpenAPI schemas it
bundles, strict: unknown fields are errors). The Argo Rollouts and Prometheus Operator kinds are
checked against the CRD schemas vendored in deploy/k8s/schemas/, made strict the same way.
"""

import json
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # the package ships no py.typed
import yaml
from referencing import Registry, Resource

from tests.deploy.tools import REPO, run

K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.32.0"
_SCHEMAS = K8S / "schemas"
_CRD_SCHEMAS = {
    ("argoproj.io/v1alpha1", "Rollout"): "argoproj.io_rollout_v1alpha1.json",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "argoproj.io_analysistemplate_v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitor_v1.json",
}
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"

Manifest = dict[str, Any]


def kustomize_command() -> list[str]:
    """`kustomize build`, or kubectl's built-in copy of it."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    raise AssertionError("neither kustomize nor kubectl is installed (see docs/deploy.md)")


def render(overlay: str) -> list[Manifest]:
    result = run([*kustomize_command(), str(K8S / "overlays" / overlay)], timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"kustomize build {overlay} failed: {result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate(manifest: Manifest) -> None:
    """Raise jsonschema.ValidationError (or AssertionError for an unknown kind)."""
    key = (manifest["apiVersion"], manifest["kind"])
    if key in _CRD_SCHEMAS:
        _crd_validator(_CRD_SCHEMAS[key]).validate(manifest)
        return
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as error:
        raise AssertionError(f"no schema for {key}: vendor its CRD schema") from error


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for manifest in manifests:
        if manifest["kind"] in {"Rollout", "Deployment"}:
            yield manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]


def _strict(node: Any) -> Any:
    """The CRD's OpenAPI v3 schema as JSON Schema 2020-12, rejecting unknown fields."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("$ref", "").startswith(_OBJECT_META):
        out["$ref"] = f"{_DEFINITIONS_URI}#/$defs/{_OBJECT_META}"
    if out.get("type") in ("object", ["object", "null"]) and out.get("properties"):
        out.setdefault("additionalProperties", False)
    return out


@cache
def _crd_validator(filename: str) -> jsonschema.protocols.Validator:
    schema = _strict(json.loads((_SCHEMAS / filename).read_text()))
    definitions_path = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{KUBERNETES_VERSION}-local-strict"
        / "_definitions.json"
    )
    definitions = Resource.from_contents(json.loads(definitions_path.read_text()))
    registry: Registry[Any] = Registry().with_resource(_DEFINITIONS_URI, definitions)
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(
        schema, registry=registry
    )
    return validator

"""The GitHub Actions workflows: actionlint-clean, and the release does what a release must."""

from typing import Any

import pytest
import yaml

from tests.deploy.tools import REPO, assert_lint_clean, dev_tool

WORKFLOWS = REPO / ".github" / "workflows"


@pytest.fixture(scope="module")
def release() -> dict[Any, Any]:
    workflow: dict[Any, Any] = yaml.safe_load((WORKFLOWS / "release.yml").read_text())
    return workflow


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def _uses(job: dict[str, Any], action: str) -> dict[str, Any]:
    found = [step for step in _steps(job) if step.get("uses", "").startswith(f"{action}@")]
    assert found, f"no step uses {action}"
    return found[0]


def test_actionlint_reports_nothing_on_every_workflow() -> None:
    workflows = sorted(WORKFLOWS.glob("*.yml"))
    assert {w.name for w in workflows} >= {"ci.yml", "release.yml"}
    assert_lint_clean([dev_tool("actionlint"), "-no-color", *map(str, workflows)])


def test_release_runs_on_version_tags_and_tests_before_building(release: dict[Any, Any]) -> None:
    # PyYAML reads the key `on` as the boolean True.
    trigger = release[True]
    assert trigger == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    jobs = release["jobs"]
    assert any(step.get("run") == "make test" for step in _steps(jobs["test"]))
    assert jobs["dist"]["needs"] == "test"
    assert jobs["image"]["needs"] == "dist"
    assert set(jobs["release"]["needs"]) == {"dist", "image"}


def test_release_builds_the_dist_artifacts_with_the_tags_version(release: dict[Any, Any]) -> None:
    dist = release["jobs"]["dist"]
    checkout = _uses(dist, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0, "hatch-vcs needs the tags"
    runs = "\n".join(step.get("run", "") for step in _steps(dist))
    assert "make dist" in runs
    assert 'test "v${version}" = "${GITHUB_REF_NAME}"' in runs


def test_release_pushes_a_multi_arch_image_tagged_version_and_latest(
    release: dict[Any, Any],
) -> None:
    image = release["jobs"]["image"]
    build = _uses(image, "docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["push"] is True
    assert build["sbom"] is True
    assert "VERSION=${{ needs.dist.outputs.version }}" in build["build-args"]
    tags = _uses(image, "docker/metadata-action")["with"]["tags"]
    assert "type=semver,pattern={{version}}" in tags
    assert "type=raw,value=latest" in tags
    _uses(image, "docker/setup-qemu-action")


def test_release_attaches_every_artifact_with_checksums_and_an_sbom(
    release: dict[Any, Any],
) -> None:
    job = release["jobs"]["release"]
    assert job["permissions"] == {"contents": "write"}
    runs = "\n".join(step.get("run", "") for step in _steps(job))
    assert "sha256sum -- * > SHA256SUMS" in runs
    assert 'gh release create "${GITHUB_REF_NAME}" release/*' in runs
    assert _uses(job, "anchore/sbom-action")["with"]["format"] == "spdx-json"

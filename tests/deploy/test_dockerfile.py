"""The Dockerfile: hadolint-clean, and the facts that matter to whoever runs the image.

No container engine runs here, so the facts are read from the Dockerfile itself.
"""

import re
import shlex
from dataclasses import dataclass

import pytest

from tests.deploy.tools import REPO, assert_lint_clean, dev_tool

DOCKERFILE = REPO / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass(frozen=True)
class Stage:
    base: str
    name: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in stage {self.name}"
        return found[-1]


def _instructions(text: str) -> list[Instruction]:
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    instructions = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


def _stages() -> list[Stage]:
    stages: list[Stage] = []
    for instruction in _instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(words[0], name, []))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


@pytest.fixture(scope="module")
def runtime() -> Stage:
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: build tools stay in the builder"
    return stages[-1]


def test_hadolint_reports_nothing() -> None:
    assert_lint_clean([dev_tool("hadolint"), "--no-color", str(DOCKERFILE)])


def test_runtime_is_distroless_python_pinned_by_digest(runtime: Stage) -> None:
    assert runtime.base.startswith("gcr.io/distroless/python3-debian12:")
    assert re.search(r"@sha256:[0-9a-f]{64}$", runtime.base), runtime.base


def test_every_base_image_is_pinned_to_an_exact_tag_or_digest() -> None:
    for stage in _stages():
        image = stage.base
        if stage.base.split("@")[0].split(":")[0] in {s.name for s in _stages()}:
            continue
        pinned_digest = re.search(r"@sha256:[0-9a-f]{64}$", image)
        tag = image.split("@")[0].rpartition(":")[2]
        assert pinned_digest or re.fullmatch(r"\d+(\.\d+)+(-[a-z]+)?", tag), image


def test_runtime_runs_as_non_root(runtime: Stage) -> None:
    user = runtime.last("USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), "a numeric uid lets Kubernetes verify runAsNonRoot"
    assert int(uid) != 0


def test_runtime_has_no_shell_commands_and_no_build_tools(runtime: Stage) -> None:
    assert runtime.all("RUN") == [], "distroless has no shell: nothing may RUN in the runtime"
    copied = " ".join(runtime.all("COPY"))
    assert "/opt/venv" in copied
    assert "uv" not in copied.split()


def test_entrypoint_is_the_service_and_it_stops_on_sigterm(runtime: Stage) -> None:
    entrypoint = shlex.split(runtime.last("ENTRYPOINT").strip("[]").replace(",", " "))
    assert entrypoint == ["/opt/venv/bin/order-service"]
    assert runtime.last("CMD") == '["serve"]'
    assert runtime.last("STOPSIGNAL") == "SIGTERM"


def test_writes_go_to_the_var_dir_volume(runtime: Stage) -> None:
    env = " ".join(runtime.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    match = re.search(r"ORDER_SERVICE_VAR_DIR=(\S+)", env)
    assert match
    var_dir = match.group(1)
    assert var_dir in runtime.last("VOLUME")
    assert any(f"--chown=65532:65532 {var_dir}" in copy for copy in runtime.all("COPY"))


def test_oci_labels_carry_version_revision_and_source(runtime: Stage) -> None:
    labels = " ".join(runtime.all("LABEL"))
    for key in ("version", "revision", "source"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels


def test_dockerignore_sends_only_what_the_build_reads() -> None:
    lines = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "src"}
    copied = {
        word.rstrip("/")
        for stage in _stages()
        for copy in stage.all("COPY")
        if "--from" not in copy
        for word in copy.split()[:-1]
    }
    assert copied <= allowed, copied - allowed

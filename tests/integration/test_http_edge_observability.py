"""Every route, present and future, is logged, counted and labelled once, at the HTTP edge."""

import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from order_service.adapters.http.app import HttpApp
from order_service.adapters.migrations import migrate
from order_service.bootstrap import build_http_app
from order_service.platform.config import Settings
from tests.asgi import AsgiResponse, request, started
from tests.log_capture import captured_logs, logged

FAST_ARGON2: dict[str, Any] = {
    "argon2_time_cost": 1,
    "argon2_memory_kib": 1024,
    "argon2_parallelism": 1,
}
JSON = [(b"content-type", b"application/json")]


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    with captured_logs() as stream:
        yield stream


async def call(
    app: HttpApp, method: str, path: str, *, headers: Any = (), body: bytes = b""
) -> AsgiResponse:
    reply = await request(app, method, path, headers=headers, body=body)
    assert reply is not None
    return reply


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    entries = logged(stream)
    return [entry for entry in entries if entry["logger"] == "order_service.access"]


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    migrate(Settings(var_dir=tmp_path).effective_database_url)
    return tmp_path


@pytest.fixture
async def app(var_dir: Path) -> AsyncIterator[HttpApp]:
    settings = Settings(var_dir=var_dir, log_sample_rate=1.0, **FAST_ARGON2)
    async with started(build_http_app(settings)) as running:
        yield running


@pytest.fixture
async def quiet_app(var_dir: Path) -> AsyncIterator[HttpApp]:
    settings = Settings(
        var_dir=var_dir, log_sample_rate=0.0, slow_request_seconds=5.0, **FAST_ARGON2
    )
    async with started(build_http_app(settings)) as running:
        yield running


def counted(app: HttpApp, **labels: str) -> float:
    metrics = app.telemetry.metrics
    assert metrics is not None
    metrics.flush()
    value = metrics.registry.get_sample_value("http_requests_total", labels)
    return value or 0.0


async def test_the_request_id_is_taken_from_the_client_or_generated_and_echoed(
    app: HttpApp, log: io.StringIO
) -> None:
    given = await call(app, "GET", "/openapi.json", headers=[(b"x-request-id", b"abc-123")])
    generated = await call(app, "GET", "/openapi.json")
    forged = await call(app, "GET", "/openapi.json", headers=[(b"x-request-id", b"a\nb")])
    assert given.headers[b"x-request-id"] == b"abc-123"
    assert generated.headers[b"x-request-id"]
    assert forged.headers[b"x-request-id"] not in {b"a\nb", generated.headers[b"x-request-id"]}
    assert [line["request_id"] for line in access_lines(log)] == [
        "abc-123",
        generated.headers[b"x-request-id"].decode(),
        forged.headers[b"x-request-id"].decode(),
    ]


async def test_requests_are_labelled_by_route_template_and_unknown_paths_collapse(
    app: HttpApp, log: io.StringIO
) -> None:
    missing = "/v1/users/0196a7a0-0000-7000-8000-000000000000"
    await call(app, "GET", missing)  # no token: 401 through the templated route
    await call(app, "GET", "/no/such/path/1")
    await call(app, "GET", "/no/such/path/2")
    assert counted(app, method="GET", handler="/v1/users/{id}", code="401") == 1
    assert counted(app, method="GET", handler="unmatched", code="404") == 2
    lines = access_lines(log)
    assert [line["route"] for line in lines] == ["/v1/users/{id}", "unmatched", "unmatched"]
    assert all(missing not in json.dumps(line) for line in lines)


async def test_the_access_line_says_method_route_status_duration_bytes_and_client(
    app: HttpApp, log: io.StringIO
) -> None:
    body = b'{"email": "ada@example.com", "name": "Ada", "password": "correct horse battery"}'
    reply = await call(app, "POST", "/v1/users", headers=JSON, body=body)
    assert reply.status == 201
    (line,) = access_lines(log)
    assert line["method"] == "POST"
    assert line["route"] == "/v1/users"
    assert line["status"] == 201
    assert line["bytes_in"] == len(body)
    assert line["bytes_out"] == len(reply.body)
    assert line["client"] == "127.0.0.1"
    assert line["duration_ms"] > 0
    assert "correct horse" not in log.getvalue()


async def test_sampled_out_successes_are_not_logged_but_errors_always_are(
    quiet_app: HttpApp, log: io.StringIO
) -> None:
    for _ in range(5):
        assert (await call(quiet_app, "GET", "/openapi.json")).status == 200
    assert (await call(quiet_app, "GET", "/nowhere")).status == 404
    bad = await call(quiet_app, "POST", "/v1/users", headers=JSON, body=b"{")
    assert bad.status == 400
    assert [line["status"] for line in access_lines(log)] == [404, 400]
    assert counted(quiet_app, method="GET", handler="/openapi.json", code="200") == 5


async def test_probes_are_counted_but_do_not_flood_the_access_log(
    app: HttpApp, log: io.StringIO
) -> None:
    for _ in range(3):
        assert (await call(app, "GET", "/live")).status == 200
        assert (await call(app, "GET", "/ready")).status == 200
        assert (await call(app, "GET", "/metrics")).status == 200
    assert access_lines(log) == []
    assert counted(app, method="GET", handler="/live", code="200") == 3


async def test_metrics_speak_openmetrics_with_exemplars_when_asked(app: HttpApp) -> None:
    metrics = app.telemetry.metrics
    assert metrics is not None
    metrics.observe_request("GET", "/v1/users/{id}", 200, 0.003, "0af7651916cd43dd8448eb211c80319c")
    plain = await call(app, "GET", "/metrics")
    open_metrics = await call(
        app,
        "GET",
        "/metrics",
        headers=[(b"accept", b"application/openmetrics-text; version=1.0.0; charset=utf-8")],
    )
    assert plain.headers[b"content-type"].startswith(b"text/plain")
    assert b"trace_id" not in plain.body
    assert open_metrics.headers[b"content-type"].startswith(b"application/openmetrics-text")
    bucket = next(
        line
        for line in open_metrics.body.decode().splitlines()
        if line.startswith(
            'http_request_duration_seconds_bucket{handler="/v1/users/{id}",le="0.004"'
        )
    )
    assert '# {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.003' in bucket
    assert open_metrics.body.endswith(b"# EOF\n")

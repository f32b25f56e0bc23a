"""Traces reach a real OTLP/HTTP receiver: incoming traceparent, server span, use case, SQL."""

import json
import uuid
from pathlib import Path

import httpx
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import PostgresSchema
from tests.otlp_receiver import Receiver, attributes
from tests.service_process import running_service

PASSWORD = "correct horse battery staple"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def traced_env(receiver: Receiver, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        # Only the incoming traceparent decides: a request without one is not sampled.
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
        # Longer than the test: the spans arrive only through the flush at shutdown.
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        "ORDER_SERVICE_LOG_SAMPLE_RATE": "1",
        **extra,
    }


def drive_a_traced_user_read(base_url: str) -> None:
    """Register, log in, then read the user with a sampled incoming traceparent."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        created = client.post("/v1/users", json={"email": email, "name": "A", "password": PASSWORD})
        assert created.status_code == 201, created.text
        issued = client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
        token = issued.json()["access_token"]
        read = client.get(
            f"/v1/users/{created.json()['id']}",
            headers={
                "authorization": f"Bearer {token}",
                "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
                "tracestate": "vendor=value",
                "x-request-id": "traced-read",
            },
        )
        assert read.status_code == 200, read.text
        assert read.headers["x-request-id"] == "traced-read"
        assert client.get("/ready").status_code == 200


def assert_one_trace_from_http_to_sql(receiver: Receiver, db_system: str) -> Span:
    assert set(receiver.paths) == {"/v1/traces"}
    server = receiver.named("GET /v1/users/{id}")
    assert server.trace_id.hex() == TRACE_ID
    assert server.parent_span_id.hex() == PARENT_ID
    assert server.kind == Span.SPAN_KIND_SERVER
    assert server.trace_state == "vendor=value"
    assert attributes(server)["http.route"] == "/v1/users/{id}"
    assert attributes(server)["http.response.status_code"] == 200
    use_case = receiver.named("Accounts.get_user")
    assert use_case.trace_id == server.trace_id
    assert use_case.parent_span_id == server.span_id
    sql = [
        span
        for _, span in receiver.spans
        if span.parent_span_id == use_case.span_id
        and attributes(span).get("db.system") == db_system
    ]
    assert sql, [span.name for _, span in receiver.spans]
    assert all(span.kind == Span.SPAN_KIND_CLIENT for span in sql)
    # Requests without a traceparent were not sampled; probes are never traced.
    assert {span.trace_id for _, span in receiver.spans} == {server.trace_id}
    assert not any(span.name.endswith("/ready") for _, span in receiver.spans)
    resource = receiver.spans[0][0]
    assert resource["service.name"] == "order-service"
    assert resource["deployment.environment"] == "test"
    return server


def assert_logs_carry_the_trace(logs: str, server: Span) -> None:
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    (access,) = [line for line in lines if line.get("request_id") == "traced-read"]
    assert access["trace_id"] == TRACE_ID
    assert access["span_id"] == server.span_id.hex()


def test_a_request_is_traced_through_the_use_case_to_sqlite(
    tmp_path: Path, receiver: Receiver
) -> None:
    with running_service(tmp_path, env=traced_env(receiver)) as service:
        drive_a_traced_user_read(service.base_url)
        assert receiver.spans == []  # nothing exported before shutdown: the flush does it
        assert service.stop() == 0
    server = assert_one_trace_from_http_to_sql(receiver, "sqlite")
    assert receiver.named("sqlite.get_by_id").kind == Span.SPAN_KIND_CLIENT
    assert_logs_carry_the_trace(service.logs(), server)


def test_a_request_is_traced_through_the_use_case_to_postgres(
    tmp_path: Path, receiver: Receiver, postgres_schema: PostgresSchema
) -> None:
    env = traced_env(
        receiver,
        ORDER_SERVICE_DATABASE_URL=postgres_schema.dsn,
        ORDER_SERVICE_DATABASE_SCHEMA=postgres_schema.schema,
    )
    with running_service(tmp_path, env=env, migrate=False) as service:
        drive_a_traced_user_read(service.base_url)
        assert service.stop() == 0
    server = assert_one_trace_from_http_to_sql(receiver, "postgresql")
    assert_logs_carry_the_trace(service.logs(), server)

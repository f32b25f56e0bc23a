"""Log lines: one JSON object each, correlated with the request and its trace, secrets redacted."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from order_service.platform.logging import (
    ACCESS_LOGGER,
    REDACTED,
    ConsoleFormatter,
    JsonFormatter,
    RepeatSampler,
    redact,
)
from order_service.platform.request_context import RequestContext, current_request
from tests.log_capture import captured_logs, logged


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    with captured_logs() as stream:
        yield stream


def test_a_line_is_one_json_object_with_the_standard_fields_and_the_events_own(
    lines: io.StringIO,
) -> None:
    logging.getLogger("order_service.test").info("user registered", extra={"user_id": 7})
    (entry,) = logged(lines)
    assert entry["event"] == "user registered"
    assert entry["level"] == "info"
    assert entry["logger"] == "order_service.test"
    assert entry["user_id"] == 7
    assert entry["ts"].endswith("Z")
    assert entry["ts"][10] == "T"
    assert "request_id" not in entry


def test_every_line_during_a_request_carries_its_request_and_trace_ids(
    lines: io.StringIO,
) -> None:
    tracer = TracerProvider().get_tracer("test")
    token = current_request.set(RequestContext("req-42"))
    try:
        with tracer.start_as_current_span("work") as span:
            logging.getLogger("anywhere.deep").warning("something happened")
            context = span.get_span_context()
    finally:
        current_request.reset(token)
    logging.getLogger("anywhere").info("after the request")
    during, after = logged(lines)
    assert during["request_id"] == "req-42"
    assert during["trace_id"] == format(context.trace_id, "032x")
    assert during["span_id"] == format(context.span_id, "016x")
    assert "request_id" not in after
    assert "trace_id" not in after


def test_secrets_never_reach_a_line(lines: io.StringIO) -> None:
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWJ5dGVz"
    logging.getLogger("order_service.test").info(
        "calling with Bearer %s for %s",
        jwt,
        "postgresql://app:hunter2@db/app",
        extra={
            "password": "correct horse battery staple",
            "headers": {"Authorization": f"Bearer {jwt}", "Cookie": "sid=abc", "accept": "*/*"},
            "access_token": jwt,
            "private_key": "-----BEGIN PRIVATE KEY-----\nMC4CAQ\n-----END PRIVATE KEY-----",
            "note": f"token was {jwt}",
        },
    )
    text = lines.getvalue()
    for secret in (jwt, "hunter2", "correct horse", "sid=abc", "MC4CAQ"):
        assert secret not in text
    (entry,) = logged(lines)
    assert entry["password"] == REDACTED
    assert entry["headers"]["Authorization"] == REDACTED
    assert entry["headers"]["accept"] == "*/*"
    assert entry["access_token"] == REDACTED


def test_a_field_name_is_judged_the_same_on_every_line(lines: io.StringIO) -> None:
    # Each name is matched against the secret patterns once and remembered.
    log = logging.getLogger("order_service.test")
    for _ in range(3):
        log.info("attempt", extra={"password": "hunter2", "user_id": 7})
    entries = logged(lines)
    assert [entry["password"] for entry in entries] == [REDACTED] * 3
    assert [entry["user_id"] for entry in entries] == [7] * 3


def test_an_exception_is_logged_with_its_trace_and_redacted(lines: io.StringIO) -> None:
    try:
        raise ValueError("Bearer abc.def.ghi leaked into a message")  # noqa: TRY301
    except ValueError:
        logging.getLogger("order_service.test").exception("failed")
    (entry,) = logged(lines)
    assert "ValueError" in entry["exception"]
    assert "abc.def.ghi" not in entry["exception"]


def test_plain_values_pass_through_redaction_unchanged() -> None:
    assert redact({"email": "ada@example.com", "n": [1, "x"]}) == {
        "email": "ada@example.com",
        "n": [1, "x"],
    }


def test_a_terminal_gets_a_readable_line_with_the_same_fields() -> None:
    record = logging.LogRecord("svc", logging.INFO, __file__, 1, "started", None, None)
    record.port = 8080
    console = ConsoleFormatter().format(record)
    assert "info" in console
    assert "svc: started" in console
    assert "port=8080" in console
    assert json.loads(JsonFormatter().format(record))["port"] == 8080


def test_a_repeated_event_is_sampled_and_the_next_window_says_how_many_were_dropped() -> None:
    sampler = RepeatSampler(burst=3, window=10.0)

    def record(at: float, message: str = "cache miss for %s") -> logging.LogRecord:
        entry = logging.LogRecord(
            "order_service.cache", logging.WARNING, "", 0, message, ("k",), None
        )
        entry.created = at
        return entry

    first_window = [sampler.filter(record(100.0 + i)) for i in range(8)]
    other_event = sampler.filter(record(101.0, "something else"))
    next_window = record(111.0)
    assert first_window == [True, True, True, False, False, False, False, False]
    assert other_event is True
    assert sampler.filter(next_window) is True
    assert getattr(next_window, "suppressed", None) == 5


def test_the_access_log_is_never_dropped_by_the_repeat_sampler() -> None:
    sampler = RepeatSampler(burst=1, window=10.0)
    line = logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, "http request", None, None)
    assert [sampler.filter(line) for _ in range(5)] == [True] * 5

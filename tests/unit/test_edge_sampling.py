"""Under a ratio sampler the edge draws new roots itself; the SDK keeps exactly those it drew."""

import random
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from order_service.adapters.http.observability import EdgeTelemetry
from order_service.platform.tracing import (
    Tracing,
    child_span,
    current_span_context,
    current_traceparent,
    root_sampling_rate,
    tracing,
)
from tests.otlp_receiver import Receiver, otlp_receiver

REQUESTS = 2000
LOW_64_BITS = 2**64 - 1


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with otlp_receiver() as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.endpoint)
        monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", str(REQUESTS * 2))
        yield running


def serve(edge: EdgeTelemetry, headers: list[tuple[bytes, bytes]]) -> tuple[int, bool]:
    """One request through the edge: the trace id its logs would carry, and whether sampled."""
    scope = {"method": "GET", "path": "/v1/users/1", "headers": headers, "client": ("c", 1)}
    observation = edge.begin(scope, "/v1/users/{id}", probe=False)
    current = current_span_context()  # what the request's log lines carry
    edge.end(observation, 200, bytes_in=0, bytes_out=0)
    assert current is not None
    return current.trace_id, current.trace_flags.sampled


@pytest.mark.parametrize("sampler", ["traceidratio", "parentbased_traceidratio"])
def test_the_configured_ratio_of_new_roots_is_exported_and_no_more(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, sampler: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    seeded = random.Random(7)  # noqa: S311 - a seeded draw makes the count reproducible
    edge = EdgeTelemetry(metrics=None, log_sample_rate=0.0, draw=seeded.random)
    with tracing(service_version="test") as traces:
        assert traces is not None
        assert traces.root_rate == 0.25
        edge.tracing = traces
        served = [serve(edge, []) for _ in range(REQUESTS)]
    sampled = [trace_id for trace_id, was_sampled in served if was_sampled]
    assert len({trace_id for trace_id, _ in served}) == REQUESTS  # every request has its own
    assert 0.2 * REQUESTS < len(sampled) < 0.3 * REQUESTS
    assert sorted(int.from_bytes(s.trace_id) for _, s in receiver.spans) == sorted(sampled)
    # Each trace id carries the decision as TraceIdRatioBased reads it, so a downstream
    # service sampling by trace id at the same rate keeps the same traces.
    bound = TraceIdRatioBased.get_bound_for_rate(0.25)
    assert all(((trace_id & LOW_64_BITS) < bound) is kept for trace_id, kept in served)


@pytest.mark.parametrize("sampler", ["traceidratio", "parentbased_traceidratio"])
def test_every_span_of_a_sampled_request_is_recorded(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, sampler: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    seeded = random.Random(11)  # noqa: S311 - a seeded draw makes the count reproducible
    edge = EdgeTelemetry(metrics=None, log_sample_rate=0.0, draw=seeded.random)
    scope = {"method": "GET", "path": "/v1/users/1", "headers": [], "client": ("c", 1)}
    with tracing(service_version="test") as traces:
        assert traces is not None
        edge.tracing = traces
        for _ in range(400):
            observation = edge.begin(scope, "/v1/users/{id}", probe=False)
            with child_span(traces.tracer, "use case"):
                pass
            edge.end(observation, 200, bytes_in=0, bytes_out=0)
    names_by_trace: defaultdict[bytes, list[str]] = defaultdict(list)
    for _, span in receiver.spans:
        names_by_trace[span.trace_id].append(span.name)
    assert 60 < len(names_by_trace) < 140
    whole = ["GET /v1/users/{id}", "use case"]
    assert all(sorted(names) == whole for names in names_by_trace.values())


def test_an_incoming_sampled_traceparent_is_followed_whatever_the_ratio(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    edge = EdgeTelemetry(metrics=None, log_sample_rate=0.0)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
    with tracing(service_version="test") as traces:
        edge.tracing = traces
        kept = serve(edge, [(b"traceparent", f"{parent}-01".encode())])
        dropped = serve(edge, [(b"traceparent", f"{parent}-00".encode())])
        root = serve(edge, [])
    assert kept == (0x4BF92F3577B34DA6A3CE929D0E0E4736, True)
    assert dropped == (0x4BF92F3577B34DA6A3CE929D0E0E4736, False)
    assert root[1] is False
    assert [span.name for _, span in receiver.spans] == ["GET /v1/users/{id}"]


def test_only_ratio_samplers_let_the_edge_draw_roots() -> None:
    assert root_sampling_rate({"OTEL_TRACES_SAMPLER": "traceidratio"}) == 1.0
    assert (
        root_sampling_rate({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"})
        is None
    )
    assert root_sampling_rate({"OTEL_TRACES_SAMPLER": "always_on"}) is None
    assert root_sampling_rate({}) is None


@contextmanager
def one_request(monkeypatch: pytest.MonkeyPatch, rate: str) -> Iterator[Tracing]:
    """Tracing on with a ratio sampler at `rate`; the block runs inside one request's edge."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", rate)
    edge = EdgeTelemetry(metrics=None, log_sample_rate=0.0)
    with tracing(service_version="test") as traces:
        assert traces is not None
        edge.tracing = traces
        scope = {"method": "GET", "path": "/x", "headers": [], "client": ("c", 1)}
        observation = edge.begin(scope, "/x", probe=False)
        try:
            yield traces
        finally:
            edge.end(observation, 200, bytes_in=0, bytes_out=0)


def test_a_dropped_root_shows_one_trace_id_to_logs_library_spans_and_outbound_calls(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with one_request(monkeypatch, "0") as traces:
        seen_first = current_span_context()
        stored_traceparent = current_traceparent()  # as an order keeps it for its dispatch
        # A span a library starts (an outbound HTTP call, a query) and what it sends out.
        with traces.tracer.start_as_current_span("GET provider") as client_span:
            library_context = client_span.get_span_context()
            outbound: dict[str, str] = {}
            propagate.inject(outbound)
        seen_last = current_span_context()
    after = current_span_context()
    assert seen_first is not None
    assert not seen_first.trace_flags.sampled
    assert seen_last == seen_first  # drawn once, the same for the whole request
    assert after is None  # nothing left behind once the request ends
    trace_hex = format(seen_first.trace_id, "032x")
    assert stored_traceparent == f"00-{trace_hex}-{seen_first.span_id:016x}-00"
    assert library_context.trace_id == seen_first.trace_id  # the library span joins the trace
    assert not library_context.trace_flags.sampled
    _, sent_trace, sent_span, flags = outbound["traceparent"].split("-")
    assert (sent_trace, sent_span) == (trace_hex, f"{library_context.span_id:016x}")
    assert int(flags, 16) & 0x01 == 0  # not sampled (0x02 may mark the trace id as random)
    assert receiver.spans == []
    assert trace.get_current_span().get_span_context().is_valid is False


@pytest.mark.parametrize(("rate", "recorded"), [("0", False), ("1", True)])
def test_adapter_spans_are_skipped_in_a_dropped_request_and_kept_in_a_sampled_one(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, rate: str, recorded: bool
) -> None:
    with (
        one_request(monkeypatch, rate) as traces,
        child_span(traces.tracer, "blob get", {"blob.key": "k"}) as span,
    ):
        in_block = trace.get_current_span()
        was_recording = span.is_recording()
    assert was_recording is recorded
    assert in_block is span  # current for the block (the invalid span is, when dropped)
    names = [exported.name for _, exported in receiver.spans]
    assert ("blob get" in names) is recorded

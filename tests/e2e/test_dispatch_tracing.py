"""Dispatch traces reach a real OTLP receiver: the claim and the delivery link back to the
request that placed the order, and the provider call carries the delivery's `traceparent`."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.otlp_receiver import Receiver, attributes, post_server
from tests.service_process import running_service, service_env

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
PASSWORD = "a long enough passphrase"


class RecordingProvider:
    """A fulfilment provider that confirms every order and keeps each request's headers."""

    def __init__(self) -> None:
        self.headers: list[Mapping[str, str]] = []
        self.endpoint = ""

    def accept(self, _path: str, headers: Mapping[str, str], _body: bytes) -> tuple[str, bytes]:
        self.headers.append(headers)
        return "application/json", json.dumps({"reference": f"rec-{len(self.headers)}"}).encode()


@pytest.fixture
def provider() -> Iterator[RecordingProvider]:
    recorder = RecordingProvider()
    with post_server(recorder.accept) as endpoint:
        recorder.endpoint = endpoint
        yield recorder


def dispatch_env(receiver: Receiver, provider: RecordingProvider, **extra: str) -> dict[str, str]:
    providers = [
        {"id": "recorder", "endpoint": provider.endpoint, "regions": ["*"], "rate_per_second": 50}
    ]
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        # Longer than the test: the spans arrive only through the flush at shutdown.
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
        "ORDER_SERVICE_PROVIDERS": json.dumps(providers),
        "ORDER_SERVICE_DISPATCH_POLL_SECONDS": "0.05",
        **extra,
    }


def place_traced_order(base_url: str) -> None:
    """Place an order under an incoming sampled traceparent and wait until it is confirmed."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        created = client.post(
            "/v1/users", json={"email": "ada@example.com", "name": "Ada", "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        issued = client.post(
            "/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD}
        )
        auth = {"authorization": f"Bearer {issued.json()['access_token']}"}
        placed = client.post(
            "/v1/orders",
            json={"items": [{"sku": "sku-1", "quantity": 1}], "region": "eu-west"},
            headers={
                **auth,
                "idempotency-key": "k1",
                "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
            },
        )
        assert placed.status_code == 202, placed.text
        deadline = time.monotonic() + 15
        while (order := client.get(placed.headers["location"], headers=auth).json())[
            "status"
        ] != "confirmed" and time.monotonic() < deadline:
            # Polling the service's observable state; dispatch is asynchronous by design.
            time.sleep(0.05)
        assert order["status"] == "confirmed", order


def assert_dispatch_linked_to_the_request(receiver: Receiver, provider: RecordingProvider) -> None:
    deliver = receiver.named("order deliver")
    assert deliver.kind == Span.SPAN_KIND_CONSUMER
    assert deliver.trace_id.hex() != TRACE_ID  # its own trace, linked rather than parented
    assert [(link.trace_id.hex(), link.span_id.hex()) for link in deliver.links] == [
        (TRACE_ID, receiver.named("POST /v1/orders").span_id.hex())
    ]
    assert attributes(deliver)["order.delivery.outcome"] == "confirmed"
    assert attributes(deliver)["order.provider"] == "recorder"
    claim = receiver.named("outbox claim")
    assert TRACE_ID in {link.trace_id.hex() for link in claim.links}
    (call,) = [
        span
        for _, span in receiver.spans
        if span.kind == Span.SPAN_KIND_CLIENT and span.parent_span_id == deliver.span_id
    ]
    # The instrumentation's semantic conventions: the stable name, or the older one by default.
    status = {k: v for k, v in attributes(call).items() if k.endswith("status_code")}
    assert list(status.values()) == [200], attributes(call)
    (sent,) = provider.headers
    version, trace_id, parent_id, flags = sent["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", deliver.trace_id.hex(), call.span_id.hex())
    assert int(flags, 16) & 1  # sampled


def test_serve_links_the_delivery_to_the_placing_request(
    tmp_path: Path, receiver: Receiver, provider: RecordingProvider
) -> None:
    with running_service(tmp_path, env=dispatch_env(receiver, provider)) as service:
        place_traced_order(service.base_url)
        assert service.stop() == 0
    assert_dispatch_linked_to_the_request(receiver, provider)


def test_the_worker_traces_from_otel_variables_and_flushes_on_shutdown(
    tmp_path: Path, receiver: Receiver, provider: RecordingProvider
) -> None:
    env = dispatch_env(receiver, provider, ORDER_SERVICE_DISPATCH_IN_SERVE="false")
    with (
        running_service(tmp_path, env=env) as service,
        (tmp_path / "worker.log").open("wb") as log,
    ):
        worker = subprocess.Popen(
            [sys.executable, "-m", "order_service", "worker"],
            env=service_env(tmp_path, env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            place_traced_order(service.base_url)
            assert service.stop() == 0
            assert receiver.named("POST /v1/orders")  # the server's spans, flushed at its exit
            with pytest.raises(AssertionError):
                receiver.named("order deliver")  # the worker holds its spans until it stops
            worker.terminate()
            assert worker.wait(timeout=15) == 0, (tmp_path / "worker.log").read_text()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert_dispatch_linked_to_the_request(receiver, provider)

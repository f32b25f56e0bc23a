"""A real OTLP/HTTP trace receiver for tests: decodes what the exporter sends and keeps it."""

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

Respond = Callable[[str, Mapping[str, str], bytes], tuple[str, bytes]]


@contextmanager
def post_server(respond: Respond) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1, in a thread: every POST is answered 200 with what
    `respond(path, headers, body)` returns (content type, body). Yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {key.lower(): value for key, value in self.headers.items()}
            content_type, reply = respond(self.path, headers, body)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Receiver:
    """An OTLP/HTTP trace endpoint that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, Any], Span]] = []
        self.paths: list[str] = []
        self.endpoint = ""

    def accept(self, path: str, _headers: Mapping[str, str], body: bytes) -> tuple[str, bytes]:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((resource, span) for span in scope_spans.spans)
        self.paths.append(path)
        return "application/x-protobuf", ExportTraceServiceResponse().SerializeToString()

    def named(self, name: str) -> Span:
        found = [span for _, span in self.spans if span.name == name]
        assert len(found) == 1, f"{name}: {[span.name for _, span in self.spans]}"
        return found[0]


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


def attributes(span: Span) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in span.attributes}


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    with post_server(receiver.accept) as endpoint:
        receiver.endpoint = endpoint
        yield receiver

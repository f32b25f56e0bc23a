"""Logs, metrics and traces for every HTTP request, applied once at the edge (`HttpApp._http`).

Per request: a request id (taken from a sane `X-Request-ID` or generated, echoed back), a
server span when tracing is on (W3C `traceparent` in; probes are not traced), the request
counter and latency histogram labelled by route template (unknown paths share one label), and
one access-log line, sampled for fast successes and always written for errors and slow requests.
"""

import itertools
import logging
import os
import random
import re
import time
from collections.abc import Iterable
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from order_service.platform.logging import request_id as request_id_var
from order_service.platform.metrics import Metrics

UNMATCHED = "unmatched"  # the `handler` label and span name of every path no route knows
_access = logging.getLogger("order_service.access")
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:/+=@-]{1,128}$")
_Headers = list[tuple[bytes, bytes]]


class _AsgiHeaders(Getter[_Headers]):
    """Reads W3C trace context out of ASGI's list of (lower-case name, value) byte pairs."""

    def get(self, carrier: _Headers, key: str) -> list[str] | None:
        wanted = key.lower().encode()
        found = [value.decode("latin-1") for name, value in carrier if name == wanted]
        return found or None

    def keys(self, carrier: _Headers) -> list[str]:
        return [name.decode("latin-1") for name, _ in carrier]


_GETTER = _AsgiHeaders()


class RequestIds:
    """Unique ids without a random draw per request: a random process prefix and a counter."""

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def take(self, headers: Iterable[tuple[bytes, bytes]]) -> str:
        for name, value in headers:
            # An id from the client is echoed only if it cannot forge log lines or headers.
            if name == b"x-request-id" and _SANE_REQUEST_ID.match(value):
                return value.decode("ascii")
        return f"{self._prefix}-{next(self._counter):x}"


class Observation:
    """One request in progress, from arrival to the last byte."""

    __slots__ = ("context_token", "request_id", "span", "started", "trace_token")

    def __init__(self, request_id: str, started: float) -> None:
        self.request_id = request_id
        self.started = started
        self.context_token = request_id_var.set(request_id)
        self.span: Span | None = None
        self.trace_token: Token[Context] | None = None


class EdgeTelemetry:
    """What `HttpApp` calls at the start and end of each request; cheap when things are off."""

    def __init__(
        self,
        *,
        metrics: Metrics | None,
        log_sample_rate: float = 1.0,
        slow_request_seconds: float = 1.0,
    ) -> None:
        self.metrics = metrics
        self.tracer: Tracer | None = None  # set at start-up when OTEL_* asks for traces
        self._sample_rate = log_sample_rate
        self._slow = slow_request_seconds
        self._ids = RequestIds()
        self._random = random.random

    def begin(self, scope: dict[str, Any], handler: str | None, *, traced: bool) -> Observation:
        headers: _Headers = scope["headers"]
        observation = Observation(self._ids.take(headers), time.perf_counter())
        if self.tracer is not None and traced:
            observation.span = self._start_span(scope, headers, handler)
            observation.trace_token = otel_context.attach(
                trace.set_span_in_context(observation.span)
            )
        return observation

    def _start_span(self, scope: dict[str, Any], headers: _Headers, handler: str | None) -> Span:
        assert self.tracer is not None  # noqa: S101 - checked by the caller
        parent: Context = propagate.extract(headers, getter=_GETTER)
        method = str(scope["method"])
        attributes: dict[str, str] = {
            "http.request.method": method,
            "url.path": str(scope["path"]),
            "url.scheme": str(scope.get("scheme", "http")),
        }
        if handler is not None:
            attributes["http.route"] = handler
        client = scope.get("client")
        if isinstance(client, tuple | list) and client:
            attributes["client.address"] = str(client[0])
        name = f"{method} {handler or UNMATCHED}"
        return self.tracer.start_span(name, parent, SpanKind.SERVER, attributes)

    def end(
        self,
        observation: Observation,
        *,
        method: str,
        handler: str | None,
        status: int,
        bytes_in: int,
        bytes_out: int,
        client: str,
        probe: bool,
    ) -> None:
        elapsed = time.perf_counter() - observation.started
        label = handler or UNMATCHED
        span = observation.span
        trace_id: str | None = None
        if span is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            context = span.get_span_context()
            if context.trace_flags.sampled:
                trace_id = format(context.trace_id, "032x")
        if self.metrics is not None:
            self.metrics.observe_request(method, label, status, elapsed, trace_id)
        if (
            status >= 400
            or elapsed >= self._slow
            or (not probe and self._random() < self._sample_rate)
        ):
            _access.log(
                logging.WARNING if status >= 500 else logging.INFO,
                "http request",
                extra={
                    "method": method,
                    "route": label,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "bytes_in": bytes_in,
                    "bytes_out": bytes_out,
                    "client": client,
                },
            )
        if span is not None:
            span.end()
            if observation.trace_token is not None:
                otel_context.detach(observation.trace_token)
        request_id_var.reset(observation.context_token)

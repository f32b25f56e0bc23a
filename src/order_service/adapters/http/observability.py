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
from collections.abc import Callable, Iterable
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from order_service.platform.logging import ACCESS_LOGGER
from order_service.platform.metrics import Metrics
from order_service.platform.request_context import TWO_TO_64, RequestContext, current_request
from order_service.platform.tracing import Tracing

UNMATCHED = "unmatched"  # the `handler` label and span name of every path no route knows
_access = logging.getLogger(ACCESS_LOGGER)
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
_EMPTY = Context()  # the context a request starts from: each request's span goes into a copy


class RequestIds:
    """Unique ids without a random draw per request: a random process prefix and a counter."""

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def take(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, bool]:
        """The request's id (the client's, if sane, else a new one), and whether the request
        carries a W3C `traceparent`: one pass over the headers for both."""
        client_id: str | None = None
        has_parent = False
        for name, value in headers:
            if name == b"traceparent":
                has_parent = True
            # An id from the client is echoed only if it cannot forge log lines or headers.
            elif name == b"x-request-id" and client_id is None and _SANE_REQUEST_ID.match(value):
                client_id = value.decode("ascii")
        return client_id or f"{self._prefix}-{next(self._counter):x}", has_parent


class Observation(RequestContext):
    """One request in progress, from arrival to the last byte; also the request context its
    logs and spans read (so a request sets one context variable)."""

    __slots__ = (
        "context_token",
        "handler",
        "probe",
        "scope",
        "span",
        "started",
        "trace_token",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        handler: str | None,
        request_id: str,
        *,
        probe: bool,
        draw: float,
    ) -> None:
        # One draw decides both samples, so a traced request's access-log line is kept too
        # (when the log rate is at least the trace rate); each rate still holds on its own.
        super().__init__(request_id, draw)
        self.started = time.perf_counter()
        self.scope = scope
        self.handler = handler
        self.probe = probe
        self.context_token = current_request.set(self)
        self.span: Span | None = None  # only a sampled one: exported, with its attributes
        self.trace_token: Token[Context] | None = None


class EdgeTelemetry:
    """What `HttpApp` calls at the start and end of each request; cheap when things are off."""

    def __init__(
        self,
        *,
        metrics: Metrics | None,
        log_sample_rate: float = 1.0,
        slow_request_seconds: float = 1.0,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.metrics = metrics
        self.tracing: Tracing | None = None  # set at start-up when OTEL_* asks for traces
        self._sample_rate = log_sample_rate
        self._slow = slow_request_seconds
        self._ids = RequestIds()
        # Sampling draws (logs, trace roots): statistical, not security-relevant.
        self._random = draw

    def begin(self, scope: dict[str, Any], handler: str | None, *, probe: bool) -> Observation:
        """`handler` is the route template, None for a path no route knows. Probes are
        counted but not traced, and logged only when they fail."""
        headers: _Headers = scope["headers"]
        request_id, has_parent = self._ids.take(headers)
        observation = Observation(scope, handler, request_id, probe=probe, draw=self._random())
        tracing = None if probe else self.tracing
        if tracing is None:
            return observation
        rate = tracing.root_rate
        if rate is not None and not has_parent:
            # A new root under a ratio sampler: drawn here. A dropped one (most) is only
            # marked, so logs, outbound calls and library spans still share one trace id, at a
            # fraction of the SDK's cost; a drawn one goes to the SDK, which must keep it.
            if observation.draw * TWO_TO_64 >= tracing.root_bound:
                observation.untraced = True
                return observation
            # Its trace id will carry the draw, so the SDK's ratio sampler keeps it too.
            span = self._sdk_span(tracing.tracer, scope, _EMPTY, handler)
        else:
            parent: Context = propagate.extract(headers, getter=_GETTER)
            span = self._sdk_span(tracing.tracer, scope, parent, handler)
        if span.is_recording():
            observation.span = span
        observation.trace_token = otel_context.attach(trace.set_span_in_context(span, _EMPTY))
        return observation

    def _sdk_span(
        self, tracer: Tracer, scope: dict[str, Any], parent: Context, handler: str | None
    ) -> Span:
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
        return tracer.start_span(name, parent, SpanKind.SERVER, attributes)

    def end(self, observation: Observation, status: int, *, bytes_in: int, bytes_out: int) -> None:
        elapsed = time.perf_counter() - observation.started
        label = observation.handler or UNMATCHED
        scope = observation.scope
        span = observation.span
        trace_id: str | None = None
        if span is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            trace_id = format(span.get_span_context().trace_id, "032x")
        if self.metrics is not None:
            self.metrics.observe_request(scope["method"], label, status, elapsed, trace_id)
        if (
            status >= 400
            or elapsed >= self._slow
            or (not observation.probe and observation.draw < self._sample_rate)
        ):
            client = scope.get("client")
            _access.log(
                logging.WARNING if status >= 500 else logging.INFO,
                "http request",
                extra={
                    "method": scope["method"],
                    "route": label,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "bytes_in": bytes_in,
                    "bytes_out": bytes_out,
                    "client": str(client[0]) if client else "unknown",
                },
            )
        if span is not None:
            span.end()
        if observation.trace_token is not None:
            otel_context.detach(observation.trace_token)
        current_request.reset(observation.context_token)

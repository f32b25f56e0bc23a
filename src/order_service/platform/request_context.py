"""The request in progress, as its log lines and spans see it: set once at the HTTP edge.

One context variable holds one object per request: its id, its sampling draw and, when the
edge's sampler has dropped the request's new root, that trace's ids, drawn only when something
asks (a log line, an outbound call, a span a library starts), which most requests never do.
Setting a context variable copies the context's map, so a request sets one, not one per
concern (docs/observability.md, "Cost").
"""

import random
from contextvars import ContextVar

from opentelemetry.trace import SpanContext

_random_bits = random.getrandbits
TWO_TO_64 = float(2**64)


class RequestContext:
    __slots__ = ("_drawn", "_trace_id", "draw", "request_id", "untraced")

    def __init__(self, request_id: str, draw: float | None = None) -> None:
        self.request_id = request_id
        # Uniform in [0, 1): decides whether the request is traced and whether its access-log
        # line is kept, and is the low half of its trace id (`trace_id`).
        self.draw = random.random() if draw is None else draw  # noqa: S311 - sampling only
        # The edge's sampler dropped this request's new root: nothing of its trace is
        # recorded, yet its logs and outbound calls share the ids below.
        self.untraced = False
        self._trace_id: int | None = None
        self._drawn: SpanContext | None = None

    def trace_id(self) -> int:
        """The trace id of a root started in this request, the same for the whole request.

        Its low 64 bits are the sampling draw scaled to 64 bits, so a sampler that decides by
        the trace id (OpenTelemetry's TraceIdRatioBased, here for a span's children or in a
        downstream service) decides as the edge did: `draw * 2**64 < bound`."""
        if self._trace_id is None:
            self._trace_id = (_random_bits(64) << 64) | int(self.draw * TWO_TO_64) or 1
        return self._trace_id

    def unsampled_span_context(self) -> SpanContext:
        """The dropped root's ids: drawn on first use, the same for the rest of the request."""
        if self._drawn is None:
            self._drawn = SpanContext(self.trace_id(), _random_bits(64) or 1, is_remote=False)
        return self._drawn


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def untraced_request() -> RequestContext | None:
    """The request in progress if its trace is not recorded (the edge dropped its root)."""
    request = current_request.get()
    return request if request is not None and request.untraced else None

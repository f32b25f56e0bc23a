"""The request in progress, as its log lines and spans see it: set once at the HTTP edge.

One context variable holds one object per request: its id and, when the edge's sampler has
dropped the request's new root, that trace's ids, drawn only when something asks (a log line,
an outbound call, a span a library starts), which most requests never do. Setting a context
variable copies the context's map, so a request sets one, not one per concern
(docs/observability.md, "Cost").
"""

import random
from contextvars import ContextVar

from opentelemetry.trace import SpanContext

_random_bits = random.getrandbits


class RequestContext:
    __slots__ = ("_drawn", "request_id", "untraced")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        # The edge's sampler dropped this request's new root: nothing of its trace is
        # recorded, yet its logs and outbound calls share the ids below.
        self.untraced = False
        self._drawn: SpanContext | None = None

    def unsampled_span_context(self) -> SpanContext:
        """The dropped root's ids: drawn on first use, the same for the rest of the request."""
        if self._drawn is None:
            self._drawn = SpanContext(
                _random_bits(128) or 1, _random_bits(64) or 1, is_remote=False
            )
        return self._drawn


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def untraced_request() -> RequestContext | None:
    """The request in progress if its trace is not recorded (the edge dropped its root)."""
    request = current_request.get()
    return request if request is not None and request.untraced else None

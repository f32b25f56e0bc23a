"""OpenTelemetry traces, configured by the standard OTEL_* variables only.

Off (no provider, no exporter thread, nothing on the hot path) unless
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. When on, each worker
builds its own provider with a batch processor after it starts (so no exporter thread crosses
a process boundary) and flushes it on shutdown. The sampler comes from OTEL_TRACES_SAMPLER /
OTEL_TRACES_SAMPLER_ARG (the SDK reads them), `service.name` from OTEL_SERVICE_NAME (default
`order-service`) and further resource attributes from OTEL_RESOURCE_ATTRIBUTES.

The edge, the use-case wrappers and the driver instrumentations get the provider explicitly;
it is also set as the process-wide provider (once per process) for code that asks the
OpenTelemetry API for a tracer, as the search and image adapters do.
"""

import functools
import inspect
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    INVALID_SPAN,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
)
from opentelemetry.util.types import Attributes

from order_service.platform.request_context import (
    TWO_TO_64,
    current_request,
    untraced_request,
)

DEFAULT_SERVICE_NAME = "order-service"
_RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")
_global_provider_set: list[bool] = []


def _inside_dropped_trace() -> bool:
    """Whether what runs now belongs to a trace that is not recorded: a request the edge's
    sampler dropped, or a span the SDK did not sample. A span started here would be dropped
    too, but only after paying most of a recorded span's price, so ours are skipped."""
    return untraced_request() is not None or _inside_unsampled_span()


def _inside_unsampled_span() -> bool:
    current = trace.get_current_span().get_span_context()
    return current.is_valid and not current.trace_flags.sampled


def current_span_context() -> SpanContext | None:
    """The span context of what runs now: the current span's, else the dropped root's."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return context
    root = untraced_request()
    return None if root is None else root.unsampled_span_context()


@contextmanager
def child_span(tracer: Tracer, name: str, attributes: Attributes = None) -> Iterator[Span]:
    """A span current for the block and ended after it (an exception marks it failed).

    Where no span is wanted (`_inside_dropped_trace`) it is the invalid span, which costs
    nothing."""
    if _inside_dropped_trace():
        yield INVALID_SPAN
        return
    span = tracer.start_span(name, attributes=attributes)
    with trace.use_span(span, end_on_exit=True):
        yield span


def current_traceparent() -> str | None:
    """The W3C `traceparent` of what runs now, or None outside any trace."""
    context = current_span_context()
    if context is None:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


@dataclass(frozen=True, slots=True)
class Tracing:
    """What a worker traces with. With `root_rate` set, the edge samples new roots itself."""

    tracer: Tracer
    root_rate: float | None = None
    # A new root is sampled when its draw times 2**64 is below this: TraceIdRatioBased's bound
    # on a trace id's low 64 bits, which `RequestContext.trace_id` fills with the draw. An int,
    # so that comparing it with the float product is exact.
    root_bound: int = field(init=False)

    def __post_init__(self) -> None:
        rate = 1.0 if self.root_rate is None else self.root_rate
        object.__setattr__(self, "root_bound", round(rate * TWO_TO_64))


_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return any(env.get(name) for name in _ENDPOINT_VARIABLES)


def root_sampling_rate(environ: Mapping[str, str] | None = None) -> float | None:
    """The ratio of a ratio sampler from OTEL_TRACES_SAMPLER(_ARG), else None."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_TRACES_SAMPLER", "").strip().lower() not in _RATIO_SAMPLERS:
        return None
    try:
        rate = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        return None  # the SDK warns and falls back to its default; so do we
    return rate if 0.0 <= rate <= 1.0 else None


@contextmanager
def tracing(*, service_version: str) -> Iterator[Tracing | None]:
    """A tracer exporting OTLP/HTTP for the life of the block, or None when tracing is off."""
    if not tracing_enabled():
        yield None
        return
    # Imported here: with tracing off the SDK and exporter are never loaded.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import Decision as SamplingDecision  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import (  # noqa: PLC0415
        ParentBased,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )
    from opentelemetry.util.types import Attributes  # noqa: PLC0415

    class EdgeFirstSampler(Sampler):
        """The configured sampler, except inside a request whose root the HTTP edge dropped.

        Under a ratio sampler the edge draws new roots itself and marks most requests
        untraced instead of asking the SDK (a fraction of the cost). A span that a library
        starts inside such a request belongs to that dropped trace, so it is dropped at once.
        The roots the edge drew in get a trace id whose low bits carry the draw
        (`RequestTraceIds`), so the ratio sampler keeps them, and their children, by itself.
        """

        def __init__(self, delegate: Sampler) -> None:
            self._delegate = delegate

        def should_sample(  # noqa: PLR0917 - the SDK's signature
            self,
            parent_context: Any,  # noqa: ANN401 - the SDK's signature
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Attributes = None,
            links: Sequence[Any] | None = None,
            trace_state: Any = None,  # noqa: ANN401 - the SDK's signature
        ) -> SamplingResult:
            if untraced_request() is not None:
                return SamplingResult(SamplingDecision.DROP, None, trace_state)
            return self._delegate.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"EdgeFirst{{{self._delegate.get_description()}}}"

    class RequestTraceIds(RandomIdGenerator):
        """A root started inside a request gets the request's trace id: the one its logs
        name, and whose low bits carry the edge's sampling draw (`RequestContext.trace_id`)."""

        def generate_trace_id(self) -> int:
            request = current_request.get()
            if request is None:
                return super().generate_trace_id()
            return request.trace_id()

    attributes: dict[str, str] = {"service.version": service_version}
    named_in_resource = "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if not os.environ.get("OTEL_SERVICE_NAME") and not named_in_resource:
        attributes["service.name"] = DEFAULT_SERVICE_NAME
    rate = root_sampling_rate()
    sampler: Sampler | None = None
    if rate is not None:
        ratio = TraceIdRatioBased(rate)
        parent_based = os.environ["OTEL_TRACES_SAMPLER"].strip().lower().startswith("parent")
        sampler = EdgeFirstSampler(ParentBased(ratio) if parent_based else ratio)
    provider = TracerProvider(
        resource=Resource.create(attributes), sampler=sampler, id_generator=RequestTraceIds()
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Also the process-wide provider, for code that asks the OpenTelemetry API for a tracer
    # (search's per-index spans); the API accepts the first one set in a process and ignores
    # the rest, which only happens when tests build several apps in one process.
    if not _global_provider_set:
        trace.set_tracer_provider(provider)
        _global_provider_set.append(True)
    uninstrument = _instrument_drivers(provider)
    try:
        yield Tracing(provider.get_tracer("order_service", service_version), rate)
    finally:
        uninstrument()
        # Exports what is still queued, then stops the exporter thread.
        provider.shutdown()


def _instrument_drivers(provider: Any) -> Callable[[], None]:  # noqa: ANN401 - SDK type
    """SQL spans for asyncpg and command spans for Redis, from the maintained instrumentations."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415

    instrumentors: list[Any] = [
        AsyncPGInstrumentor(),  # type: ignore[no-untyped-call]
        RedisInstrumentor(),
    ]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)

    def uninstrument() -> None:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()

    return uninstrument


def trace_methods(
    target: object,
    tracer: Tracer,
    prefix: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str] | None = None,
) -> None:
    """Wrap every public coroutine method of `target` in a span named `prefix.method`.

    How use cases and embedded stores get spans without importing OpenTelemetry themselves
    (docs/adr/0011-observability-stack.md): the composition root calls this on the instance,
    whose own attributes then shadow the class's methods. Call it only when tracing is on;
    otherwise the instance is left untouched and costs nothing.
    """
    fixed = dict(attributes or {})
    for name, method in inspect.getmembers(target, inspect.iscoroutinefunction):
        if not name.startswith("_"):
            setattr(target, name, _spanned(method, tracer, f"{prefix}.{name}", kind, fixed))


def _spanned(
    method: Callable[..., Awaitable[Any]],
    tracer: Tracer,
    name: str,
    kind: SpanKind,
    attributes: dict[str, str],
) -> Callable[..., Awaitable[Any]]:
    async def spanned(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - any method
        # start_span, attach and end by hand: the API's start_as_current_span wraps the same
        # calls in two generator-based context managers, a fifth of a traced call's cost.
        span = tracer.start_span(name, kind=kind, attributes=attributes, record_exception=False)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            return await method(*args, **kwargs)
        except Exception as error:
            # Domain outcomes (not found, conflict) are errors of the call, recorded by type
            # only: an exception's message may carry a caller's data.
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        finally:
            otel_context.detach(token)
            span.end()

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Awaitable[Any]:  # noqa: ANN401 - any method
        # Not a coroutine function itself: where no span is wanted, the caller awaits the
        # method's own coroutine, with no frame of ours in between. The dropped request,
        # by far the most common case, is tested inline: this runs on every use-case call.
        request = current_request.get()
        if (request is not None and request.untraced) or _inside_unsampled_span():
            return method(*args, **kwargs)
        return spanned(*args, **kwargs)

    return wrapper


__all__ = [
    "SpanKind",
    "Tracer",
    "Tracing",
    "child_span",
    "current_span_context",
    "current_traceparent",
    "trace",
    "trace_methods",
    "tracing",
    "tracing_enabled",
]

"""OpenTelemetry traces, configured by the standard OTEL_* variables only.

Off (no provider, no exporter thread, nothing on the hot path) unless
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. When on, each worker
builds its own provider with a batch processor after it starts (so no exporter thread crosses
a process boundary) and flushes it on shutdown. The sampler comes from OTEL_TRACES_SAMPLER /
OTEL_TRACES_SAMPLER_ARG (the SDK reads them), `service.name` from OTEL_SERVICE_NAME (default
`order-service`) and further resource attributes from OTEL_RESOURCE_ATTRIBUTES.

The provider is not installed globally: the edge and the instrumentations get it explicitly,
so two apps in one test process do not fight over a global.
"""

import functools
import inspect
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

DEFAULT_SERVICE_NAME = "order-service"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return any(env.get(name) for name in _ENDPOINT_VARIABLES)


@contextmanager
def tracing(*, service_version: str) -> Iterator[Tracer | None]:
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

    attributes: dict[str, str] = {"service.version": service_version}
    named_in_resource = "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if not os.environ.get("OTEL_SERVICE_NAME") and not named_in_resource:
        attributes["service.name"] = DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    uninstrument = _instrument_drivers(provider)
    try:
        yield provider.get_tracer("order_service", service_version)
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
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - any method
        parent = trace.get_current_span().get_span_context()
        if parent.is_valid and not parent.trace_flags.sampled:
            # Inside a trace the sampler dropped: a child would be dropped too, so skip its
            # cost (most of a span's price is paid even when it is not recorded).
            return await method(*args, **kwargs)
        with tracer.start_as_current_span(
            name, kind=kind, attributes=attributes, record_exception=False
        ) as span:
            try:
                return await method(*args, **kwargs)
            except Exception as error:
                # Domain outcomes (not found, conflict) are errors of the call, recorded by type.
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise

    return wrapper


__all__ = ["SpanKind", "Tracer", "trace", "trace_methods", "tracing", "tracing_enabled"]

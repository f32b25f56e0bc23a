"""Spans for the thumbnailer's I/O: a BlobStore wrapper and the tracer the render pool uses.

Spans are children of the request's span when the HTTP edge opened one, and cost nothing until
an OpenTelemetry SDK is configured. Decode, resize and encode run inside one render span: they
happen in a worker process, whose own spans would need the context carried across.
"""

from pathlib import Path

from opentelemetry import trace
from opentelemetry.trace import Tracer

from order_service.application.images import BlobStore

TRACER_NAME = "order_service.images"


def images_tracer() -> Tracer:
    return trace.get_tracer(TRACER_NAME)


class TracedBlobStore:
    """Any BlobStore, with a `blob <operation>` span around each call."""

    def __init__(self, inner: BlobStore, *, store: str, tracer: Tracer | None = None) -> None:
        self._inner = inner
        self._store = store
        self._tracer = tracer or images_tracer()

    def _span(self, operation: str, key: str) -> trace.Span:
        attributes = {"blob.store": self._store, "blob.key": key}
        return self._tracer.start_span(f"blob {operation}", attributes=attributes)

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        with trace.use_span(self._span("put", key), end_on_exit=True) as span:
            span.set_attribute("blob.bytes", len(data))
            await self._inner.put(key, data, durable=durable)

    def local_path(self, key: str) -> Path | None:
        return self._inner.local_path(key)

    async def get(self, key: str) -> bytes | None:
        with trace.use_span(self._span("get", key), end_on_exit=True) as span:
            data = await self._inner.get(key)
            span.set_attribute("blob.found", data is not None)
            return data

    async def exists(self, key: str) -> bool:
        with trace.use_span(self._span("exists", key), end_on_exit=True):
            return await self._inner.exists(key)

    async def delete(self, key: str) -> None:
        with trace.use_span(self._span("delete", key), end_on_exit=True):
            await self._inner.delete(key)

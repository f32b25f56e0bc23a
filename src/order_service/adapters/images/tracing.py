"""Spans for the thumbnailer's I/O: a BlobStore wrapper and the tracer the render pool uses.

Spans are children of the request's span when the HTTP edge opened one, and cost nothing until
an OpenTelemetry SDK is configured. Decode, resize and encode run inside one render span: they
happen in a worker process, whose own spans would need the context carried across.
"""

from contextlib import AbstractContextManager
from pathlib import Path

from opentelemetry import trace
from opentelemetry.trace import Tracer

from order_service.application.images import BlobStore
from order_service.platform.tracing import child_span

TRACER_NAME = "order_service.images"


def images_tracer() -> Tracer:
    return trace.get_tracer(TRACER_NAME)


class TracedBlobStore:
    """Any BlobStore, with a `blob <operation>` span around each call."""

    def __init__(self, inner: BlobStore, *, store: str, tracer: Tracer | None = None) -> None:
        self._inner = inner
        self._store = store
        self._tracer = tracer or images_tracer()

    def _span(self, operation: str, key: str) -> AbstractContextManager[trace.Span]:
        attributes = {"blob.store": self._store, "blob.key": key}
        return child_span(self._tracer, f"blob {operation}", attributes)

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        with self._span("put", key) as span:
            span.set_attribute("blob.bytes", len(data))
            await self._inner.put(key, data, durable=durable)

    def local_path(self, key: str) -> Path | None:
        return self._inner.local_path(key)

    async def get(self, key: str) -> bytes | None:
        with self._span("get", key) as span:
            data = await self._inner.get(key)
            span.set_attribute("blob.found", data is not None)
            return data

    async def exists(self, key: str) -> bool:
        with self._span("exists", key):
            return await self._inner.exists(key)

    async def delete(self, key: str) -> None:
        with self._span("delete", key):
            await self._inner.delete(key)

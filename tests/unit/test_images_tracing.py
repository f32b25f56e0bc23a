"""The thumbnailer's spans: blob I/O and renders, named so a trace reads as the request did."""

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, Span

from order_service.adapters.images.render_pool import PoolImageCodec
from order_service.adapters.images.tracing import TracedBlobStore
from order_service.domain.images import Fit, ImageFormat, ThumbnailSpec
from tests import image_samples as samples
from tests.fakes.images import InMemoryBlobStore


class RecordingTracer(NoOpTracer):
    """Records span names and attributes; the spans themselves are the API's no-op ones.

    The adapters open spans with `start_span` + `use_span`, so this is the one call to record.
    """

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, Any]]] = []

    def start_span(self, name: str, *_args: Any, **kwargs: Any) -> Span:
        self.spans.append((name, dict(kwargs.get("attributes") or {})))
        return trace.INVALID_SPAN


async def test_every_blob_operation_has_a_span_naming_store_and_key() -> None:
    tracer = RecordingTracer()
    blobs = TracedBlobStore(InMemoryBlobStore(), store="file", tracer=tracer)
    await blobs.put("a/b", b"data")
    assert await blobs.get("a/b") == b"data"
    assert await blobs.exists("a/b")
    await blobs.delete("a/b")
    assert [name for name, _ in tracer.spans] == [
        "blob put",
        "blob get",
        "blob exists",
        "blob delete",
    ]
    assert tracer.spans[0][1] == {"blob.store": "file", "blob.key": "a/b"}


async def test_inspect_and_render_each_have_a_span_with_the_output_shape() -> None:
    tracer = RecordingTracer()
    codec = PoolImageCodec(kind="thread", workers=1, queue=1, tracer=tracer)
    try:
        data = samples.photo_jpeg(200, 100)
        await codec.inspect(data)
        spec = ThumbnailSpec(64, 64, Fit.COVER, ImageFormat.PNG, 80)
        await codec.render(data, spec)
    finally:
        codec.close()
    assert [name for name, _ in tracer.spans] == ["image inspect", "image render"]
    render = tracer.spans[1][1]
    assert render["image.format"] == "png"
    assert render["image.size_class"] == "s"
    assert render["image.fit"] == "cover"

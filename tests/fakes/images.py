"""In-memory fakes of the thumbnailer's ports; the blob store passes the BlobStore contract."""

import asyncio
import struct
from pathlib import Path

from order_service.application.images import DecodedImage, StoredLookup, Variant
from order_service.domain.images import (
    ImageFormat,
    ImageInfo,
    RenderUnavailable,
    ThumbnailSpec,
    UnsupportedImage,
    looks_complete,
)


def framed(payload: bytes, fmt: ImageFormat) -> bytes:
    """`payload` between the start and end markers of `fmt`, so it passes `looks_complete`."""
    if fmt is ImageFormat.PNG:
        return b"\x89PNG" + payload + b"IEND\xaeB`\x82"
    if fmt is ImageFormat.WEBP:
        return b"RIFF" + struct.pack("<I", len(payload) + 4) + b"WEBP" + payload
    return b"\xff\xd8" + payload + b"\xff\xd9"


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class InMemoryBlobStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.puts = 0

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:  # noqa: ARG002 - memory is never durable
        self.puts += 1
        self.blobs[key] = bytes(data)

    def local_path(self, key: str) -> None:  # noqa: ARG002 - no files: renders get the bytes
        return None

    async def get(self, key: str) -> bytes | None:
        return self.blobs.get(key)

    async def exists(self, key: str) -> bool:
        return key in self.blobs

    async def delete(self, key: str) -> None:
        self.blobs.pop(key, None)


class InMemoryImageRepository:
    """Image metadata by id; `asked` records every id looked up, to show what reached the store."""

    def __init__(self, *known: ImageInfo) -> None:
        self.images = {info.id: info for info in known}
        self.asked: list[str] = []

    async def get(self, image_id: str) -> ImageInfo | None:
        self.asked.append(image_id)
        return self.images.get(image_id)

    async def add(self, info: ImageInfo) -> None:
        self.images[info.id] = info


class FakeImageCodec:
    """Accepts bytes starting with b"IMG"; a render returns a description of what was asked.

    `gate`, when set, holds every render until the test opens it, so a test can line up
    concurrent requests deterministically. `capacity` sheds renders beyond it, as the pool does.
    """

    encoder = "fake1"
    outputs = frozenset({ImageFormat.JPEG, ImageFormat.PNG, ImageFormat.WEBP})

    def __init__(self, capacity: int = 100) -> None:
        self.inspected: list[bytes] = []
        self.rendered: list[ThumbnailSpec] = []
        self.looked = 0  # stored_or_render calls: the renderer asked to look in the store
        self.gate: asyncio.Event | None = None
        self.capacity = capacity
        self.running = 0
        self.started = asyncio.Condition()

    async def inspect(self, data: bytes) -> DecodedImage:
        self.inspected.append(data)
        if not data.startswith(b"IMG"):
            raise UnsupportedImage("not an image")
        return DecodedImage(format=ImageFormat.PNG, width=640, height=480)

    async def render(
        self, data: bytes | Path, spec: ThumbnailSpec, *, store_at: Path | None = None
    ) -> bytes:
        if self.running >= self.capacity:
            raise RenderUnavailable("at capacity", 1.0)
        self.running += 1
        try:
            self.rendered.append(spec)
            async with self.started:
                self.started.notify_all()
            if self.gate is not None:
                await self.gate.wait()
            size = len(data) if isinstance(data, bytes) else -1
            description = f"{size}:{spec.width}x{spec.height}:{spec.fit}:{spec.format}".encode()
            body = framed(description, spec.format)
            if store_at is not None:
                await asyncio.to_thread(_write, store_at, body)
            return body
        finally:
            self.running -= 1

    async def stored_or_render(
        self,
        source: Path,
        spec: ThumbnailSpec,
        store_at: Path,
        *,
        stored: StoredLookup,  # noqa: ARG002 - no queue here: the renderer always looks itself
    ) -> Variant:
        self.looked += 1
        found = await asyncio.to_thread(_read, store_at)
        if found is not None and looks_complete(found, spec.format):
            return Variant(found, rendered=False)
        return Variant(await self.render(source, spec, store_at=store_at), rendered=True)

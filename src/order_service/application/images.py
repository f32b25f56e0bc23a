"""Image use cases: upload an original, read it back, serve thumbnails from the cheapest layer.

A thumbnail is looked up in three layers, cheapest first: the in-process LRU (bounded in
bytes), the blob store (each variant stored once, so a fleet renders it once), and last a
render in the codec's bounded pool. Concurrent requests for one missing variant share one
render (single-flight).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from cachetools import LRUCache

from order_service.application.ports import Principal
from order_service.domain.errors import Unavailable
from order_service.domain.images import (
    ImageFormat,
    ImageInfo,
    ImageNotFound,
    ImageRejected,
    ImageTooLarge,
    Thumbnail,
    ThumbnailLimits,
    ThumbnailSpec,
    UnsupportedImage,
    etag_for,
    image_id_of,
    looks_complete,
)

T = TypeVar("T")

# --- ports ---------------------------------------------------------------------------------


class BlobStore(Protocol):
    """Bytes by key. `put` is atomic (a reader sees all of a blob or none) and idempotent.

    Keys are `/`-separated paths of `[0-9a-z._-]` segments chosen by the use case.
    """

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        """Store `data` under `key`. `durable=False` may skip flushing to stable storage: for
        blobs that can be made again (rendered variants), where a lost write costs a render."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The blob's bytes, or None when there is no blob under `key`."""
        ...

    def local_path(self, key: str) -> Path | None:
        """Where a process on this machine can read the blob directly, if the store keeps
        blobs as local files; None otherwise. No I/O: the file may not exist."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error."""
        ...


StoredLookup = Callable[[], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class Variant:
    """A thumbnail's bytes, and whether they were rendered now or found already stored."""

    body: bytes
    rendered: bool


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """What the codec learnt from an upload it checked end to end."""

    format: ImageFormat
    width: int
    height: int


class ImageCodec(Protocol):
    """Decode, check and render images, off the event loop and within the request's deadline.

    `inspect` raises an ImageRejected subclass for bytes that are not a supported, intact image
    of at most the configured pixel count (read from the header, before any decoding).
    Both raise RenderUnavailable when the pool is saturated (shed the load) and RenderFailed
    when the codec itself failed.
    """

    @property
    def encoder(self) -> str:
        """The codec's name and version; part of every variant's key and ETag."""
        ...

    @property
    def outputs(self) -> frozenset[ImageFormat]: ...

    async def inspect(self, data: bytes) -> DecodedImage: ...

    async def render(
        self, source: bytes | Path, spec: ThumbnailSpec, *, store_at: Path | None = None
    ) -> bytes:
        """The variant's bytes, from the original's bytes or its local file (BlobStore.local_path);
        raises OriginalMissing when that file is gone. With `store_at` (the variant's local
        file) the codec also writes the variant there, atomically and without fsync."""
        ...

    async def stored_or_render(
        self, source: Path, spec: ThumbnailSpec, store_at: Path, *, stored: StoredLookup
    ) -> Variant:
        """For a local store: the complete variant at `store_at`, else one rendered from the
        original's file `source` and written there (atomically, without fsync).

        The renderer looks at `store_at` before rendering, so the server need not look first.
        `stored` is the server's own look in the store (None when missing or torn), which the
        codec calls only when the render cannot start soon (the pool is full, or no worker
        came free within its patience): a stored variant never waits behind renders for long.
        """
        ...


class ImageRepository(Protocol):
    """The metadata of stored originals, by image id."""

    async def get(self, image_id: str) -> ImageInfo | None: ...

    async def add(self, info: ImageInfo) -> None:
        """Record an original; adding the same id again is a no-op."""
        ...


class ImageMetrics(Protocol):
    """What the use case reports; the adapter decides how it is exported."""

    def cache_lookup(self, layer: str, *, hit: bool) -> None: ...

    def upload_rejected(self, reason: str) -> None: ...

    def rendered(self, spec: ThumbnailSpec, seconds: float) -> None: ...

    def render_shared(self) -> None:
        """A request got its variant from another request's render (single-flight)."""
        ...


class NoMetrics:
    def cache_lookup(self, layer: str, *, hit: bool) -> None:
        pass

    def upload_rejected(self, reason: str) -> None:
        pass

    def rendered(self, spec: ThumbnailSpec, seconds: float) -> None:
        pass

    def render_shared(self) -> None:
        pass


# --- concurrency helpers -------------------------------------------------------------------


class LeaderCancelled(Unavailable):
    def __init__(self) -> None:
        super().__init__("the render this request was waiting for was cancelled; retry", 0.0)


class SingleFlight(Generic[T]):
    """Concurrent calls with one key share one execution; the first caller runs it.

    Followers wait on a shielded future, so a follower that is cancelled does not cancel the
    work; if the leader is cancelled, its followers get LeaderCancelled (a 503 to retry).
    """

    def __init__(self) -> None:
        self._calls: dict[str, asyncio.Future[T]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    async def do(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Return (result, shared): `shared` is True when another caller did the work."""
        running = self._calls.get(key)
        if running is not None:
            return await asyncio.shield(running), True
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            result = await work()
        except asyncio.CancelledError:
            future.set_exception(LeaderCancelled())
            future.exception()  # mark retrieved: no follower may be waiting
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()
            raise
        else:
            future.set_result(result)
            return result, False
        finally:
            del self._calls[key]


class ByteBudgetCache:
    """An LRU of variant bytes whose total size stays within `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._lru: LRUCache[str, bytes] = LRUCache(maxsize=max(1, max_bytes), getsizeof=len)

    def get(self, key: str) -> bytes | None:
        return self._lru.get(key)

    def put(self, key: str, value: bytes) -> None:
        if 0 < len(value) <= self._max:
            self._lru[key] = value

    @property
    def size_bytes(self) -> int:
        return int(self._lru.currsize)

    def __len__(self) -> int:
        return len(self._lru)


class StoredShare:
    """How often a variant missing from memory was found in the blob store, lately.

    Counts over about the last `window` such lookups (both counts are halved when the window
    fills, so recent ones weigh most). `likely` says whether the next one is worth looking for
    from the server first: above a quarter found, one thread hop per lookup costs less than
    sending each stored variant's request through a render worker (ADR 0030, 2e).
    """

    def __init__(self, window: int = 64) -> None:
        self._window = window
        self._found = 0
        self._seen = 0

    def record(self, *, found: bool) -> None:
        self._seen += 1
        self._found += found
        if self._seen >= self._window:
            self._seen //= 2
            self._found //= 2

    @property
    def likely(self) -> bool:
        return self._found * 4 > self._seen


# --- use cases -----------------------------------------------------------------------------


def original_key(image_id: str) -> str:
    return f"originals/{image_id[:2]}/{image_id}"


def variant_key(key: str) -> str:
    return f"variants/{key}"


@dataclass(frozen=True, slots=True)
class Upload:
    info: ImageInfo
    created: bool


class Images:
    """Upload originals and serve their thumbnails."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        repository: ImageRepository,
        codec: ImageCodec,
        cache: ByteBudgetCache,
        limits: ThumbnailLimits,
        max_upload_bytes: int,
        quality: int,
        metrics: ImageMetrics | None = None,
    ) -> None:
        self._blobs = blobs
        self._repository = repository
        self._codec = codec
        self._cache = cache
        self.limits = limits
        self.quality = quality
        self._max_upload_bytes = max_upload_bytes
        self._metrics = metrics or NoMetrics()
        self._flight: SingleFlight[bytes] = SingleFlight()
        self._stored_share = StoredShare()

    async def upload(
        self,
        principal: Principal,  # noqa: ARG002 - any customer may upload; kept for the audit trail
        data: bytes,
        *,
        declared: ImageFormat | None = None,
    ) -> Upload:
        """Store an original once per distinct content; raise ImageRejected for bad input.

        The format is detected from the bytes; `declared` (from the Content-Type) must agree
        with it, so a file that is two formats at once, or a mislabelled one, is refused.
        """
        try:
            if len(data) > self._max_upload_bytes:
                raise ImageTooLarge(self._max_upload_bytes)
            image_id = image_id_of(data)
            known = await self._repository.get(image_id)
            if known is None:
                decoded = await self._codec.inspect(data)
                info = ImageInfo(
                    id=image_id,
                    format=decoded.format,
                    width=decoded.width,
                    height=decoded.height,
                    bytes=len(data),
                )
            else:
                info = known
            if declared is not None and declared is not info.format:
                raise UnsupportedImage(
                    f"the body is {info.format.value}, not {declared.value} as declared"
                )
        except ImageRejected as rejected:
            self._metrics.upload_rejected(rejected.reason)
            raise
        if known is not None:
            return Upload(known, created=False)
        # Blob first: metadata that exists always names bytes that exist.
        await self._blobs.put(original_key(image_id), data)
        await self._repository.add(info)
        return Upload(info, created=True)

    async def info(self, image_id: str) -> ImageInfo:
        info = await self._repository.get(image_id)
        if info is None:
            raise ImageNotFound(image_id)
        return info

    async def original(self, image_id: str) -> tuple[ImageInfo, bytes]:
        info = await self.info(image_id)
        data = await self._blobs.get(original_key(image_id))
        if data is None:
            raise ImageNotFound(image_id)
        return info, data

    def etag(self, image_id: str, spec: ThumbnailSpec) -> str:
        return etag_for(spec.key(image_id, self._codec.encoder))

    def variant(self, image_id: str, spec: ThumbnailSpec) -> str:
        """The variant's key: what `from_memory` takes."""
        return spec.key(image_id, self._codec.encoder)

    def from_memory(self, variant: str) -> bytes | None:
        """The variant's bytes if the in-process LRU has them: the cached hit path, no I/O."""
        body = self._cache.get(variant)
        if body is not None:
            self._metrics.cache_lookup("memory", hit=True)
        return body

    async def is_known(self, image_id: str, spec: ThumbnailSpec) -> bool:
        """Cheap existence check for conditional requests: memory first, then metadata."""
        if self._cache.get(spec.key(image_id, self._codec.encoder)) is not None:
            return True
        return await self._repository.get(image_id) is not None

    async def thumbnail(self, image_id: str, spec: ThumbnailSpec) -> Thumbnail:
        key = spec.key(image_id, self._codec.encoder)
        etag = etag_for(key)
        body = self._cache.get(key)
        self._metrics.cache_lookup("memory", hit=body is not None)
        if body is None:
            body, shared = await self._flight.do(
                key, lambda: self._load_or_render(image_id, spec, key)
            )
            if shared:
                self._metrics.render_shared()
        return Thumbnail(body=body, format=spec.format, etag=etag)

    async def _load_or_render(self, image_id: str, spec: ThumbnailSpec, key: str) -> bytes:
        source = self._blobs.local_path(original_key(image_id))
        target = self._blobs.local_path(variant_key(key))
        if source is None or target is None:
            body = await self._load_or_render_remote(image_id, spec, key)
        else:
            await self.info(image_id)  # unknown ids are 404 before any work
            body = await self._load_or_render_local(spec, key, source, target)
        self._cache.put(key, body)
        return body

    async def _load_or_render_local(
        self, spec: ThumbnailSpec, key: str, source: Path, target: Path
    ) -> bytes:
        """A store the renderer reads and writes itself (the filesystem). While most variants
        missing from memory are not stored either, the renderer looks for the variant before
        rendering it, which spares the server a thread hop per render; while most are stored
        (after a restart, or more variants in use than memory holds), the server looks first,
        as a render worker's round trip costs more than that hop (ADR 0030, 2e)."""
        started = time.perf_counter()
        if self._stored_share.likely:
            stored = await self._stored(key, spec)
            self._stored_share.record(found=stored is not None)
            self._metrics.cache_lookup("blob", hit=stored is not None)
            if stored is not None:
                return stored
            body = await self._codec.render(source, spec, store_at=target)
        else:
            variant = await self._codec.stored_or_render(
                source, spec, target, stored=lambda: self._stored(key, spec)
            )
            self._stored_share.record(found=not variant.rendered)
            self._metrics.cache_lookup("blob", hit=not variant.rendered)
            if not variant.rendered:
                return variant.body
            body = variant.body
        self._metrics.rendered(spec, time.perf_counter() - started)
        return body

    async def _stored(self, key: str, spec: ThumbnailSpec) -> bytes | None:
        stored = await self._blobs.get(variant_key(key))
        if stored is not None and not looks_complete(stored, spec.format):
            return None  # a write torn by a crash (variants are not fsynced): render again
        return stored

    async def _load_or_render_remote(self, image_id: str, spec: ThumbnailSpec, key: str) -> bytes:
        """The variant from a store the renderer cannot reach (S3): the server looks for it,
        and on a miss sends the original's bytes to be rendered and stores the result."""
        stored = await self._stored(key, spec)
        self._metrics.cache_lookup("blob", hit=stored is not None)
        if stored is not None:
            return stored
        _, original = await self.original(image_id)
        started = time.perf_counter()
        body = await self._codec.render(original, spec)
        self._metrics.rendered(spec, time.perf_counter() - started)
        # Not fsynced: a variant lost in a crash is rendered again; an original is not.
        await self._blobs.put(variant_key(key), body, durable=False)
        return body

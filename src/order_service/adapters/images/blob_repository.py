"""The ImageRepository port on the BlobStore: one small JSON document per original.

Image metadata is immutable (the id is the content's hash), so it lives beside the bytes in the
same store (no database table, no migration) and every process may cache it without
invalidation.
"""

import msgspec
from cachetools import LRUCache

from order_service.application.images import BlobStore
from order_service.domain.images import ImageFormat, ImageInfo


class _Document(msgspec.Struct):
    format: str
    width: int
    height: int
    bytes: int


def metadata_key(image_id: str) -> str:
    return f"meta/{image_id[:2]}/{image_id}.json"


class BlobImageRepository:
    def __init__(self, blobs: BlobStore, *, cached: int = 10_000) -> None:
        self._blobs = blobs
        self._known: LRUCache[str, ImageInfo] = LRUCache(maxsize=cached)

    async def get(self, image_id: str) -> ImageInfo | None:
        info = self._known.get(image_id)
        if info is not None:
            return info
        raw = await self._blobs.get(metadata_key(image_id))
        if raw is None:
            return None
        document = msgspec.json.decode(raw, type=_Document)
        info = ImageInfo(
            id=image_id,
            format=ImageFormat(document.format),
            width=document.width,
            height=document.height,
            bytes=document.bytes,
        )
        self._known[image_id] = info
        return info

    async def add(self, info: ImageInfo) -> None:
        document = _Document(
            format=info.format.value, width=info.width, height=info.height, bytes=info.bytes
        )
        await self._blobs.put(metadata_key(info.id), msgspec.json.encode(document))
        self._known[info.id] = info

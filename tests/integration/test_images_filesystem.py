"""The thumbnailer on the filesystem store with real render workers: the worker reads the
original by path and writes the variant itself, and another replica finds it there."""

import uuid
from pathlib import Path

import pytest

from order_service.adapters.blobs.filesystem import FilesystemBlobStore
from order_service.adapters.images.blob_repository import BlobImageRepository
from order_service.adapters.images.render_pool import PoolImageCodec, PoolKind
from order_service.application.images import ByteBudgetCache, ImageCodec, Images, variant_key
from order_service.application.ports import Principal
from order_service.domain.images import (
    Fit,
    ImageFormat,
    ThumbnailLimits,
    ThumbnailSpec,
    looks_complete,
)
from tests import image_samples as samples
from tests.fakes.images import FakeImageCodec
from tests.unit.test_images_use_case import Recorder

SPEC = ThumbnailSpec(width=96, height=96, fit=Fit.COVER, format=ImageFormat.PNG, quality=80)


def replica(
    blobs: FilesystemBlobStore, codec: ImageCodec, metrics: Recorder | None = None
) -> Images:
    return Images(
        blobs=blobs,
        repository=BlobImageRepository(blobs),
        codec=codec,
        cache=ByteBudgetCache(1 << 20),
        limits=ThumbnailLimits(),
        max_upload_bytes=1 << 22,
        quality=80,
        metrics=metrics,
    )


@pytest.mark.parametrize("kind", ["process", "thread"])
async def test_the_renderer_writes_the_variant_where_another_replica_finds_it(
    tmp_path: Path, kind: PoolKind
) -> None:
    codec = PoolImageCodec(kind=kind, workers=1, queue=1)
    try:
        first_metrics, second_metrics = Recorder(), Recorder()
        first = replica(FilesystemBlobStore(tmp_path), codec, first_metrics)
        caller = Principal(subject=uuid.uuid4(), roles=frozenset())
        image_id = (await first.upload(caller, samples.photo_jpeg(300, 200))).info.id
        body = (await first.thumbnail(image_id, SPEC)).body
        stored = tmp_path / variant_key(first.variant(image_id, SPEC))
        assert stored.read_bytes() == body
        assert looks_complete(body, ImageFormat.PNG)
        assert [p.name for p in stored.parent.iterdir()] == [stored.name]  # no temporary left
        second = replica(FilesystemBlobStore(tmp_path), codec, second_metrics)
        assert (await second.thumbnail(image_id, SPEC)).body == body
        assert first_metrics.renders == 1
        assert second_metrics.renders == 0
        assert ("blob", True) in second_metrics.lookups
    finally:
        codec.close()


class CountingStore(FilesystemBlobStore):
    """The filesystem store, counting the variant lookups the server makes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.variant_gets = 0

    async def get(self, key: str) -> bytes | None:
        self.variant_gets += key.startswith("variants/")
        return await super().get(key)


async def test_the_server_looks_first_once_most_misses_are_in_the_store(tmp_path: Path) -> None:
    codec = FakeImageCodec()
    caller = Principal(subject=uuid.uuid4(), roles=frozenset())
    specs = [
        ThumbnailSpec(width=side, height=side, fit=Fit.COVER, format=ImageFormat.PNG, quality=80)
        for side in range(40, 72)
    ]

    first_blobs = CountingStore(tmp_path)
    first = replica(first_blobs, codec)
    image_id = (await first.upload(caller, b"IMG stored share")).info.id
    for spec in specs:  # all new: the renderer looks, the server never does
        await first.thumbnail(image_id, spec)
    assert (codec.looked, first_blobs.variant_gets, len(codec.rendered)) == (32, 0, 32)

    second_blobs = CountingStore(tmp_path)
    second = replica(second_blobs, codec)  # a fresh memory: every variant is in the store
    codec.looked = 0
    for spec in specs:
        await second.thumbnail(image_id, spec)
    assert len(codec.rendered) == 32  # none rendered again
    assert codec.looked == 1  # the first find showed the store has them: the server looks
    assert second_blobs.variant_gets == 31

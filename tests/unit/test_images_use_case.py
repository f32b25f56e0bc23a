"""The image use cases with in-memory fakes: dedupe, cache layers, single-flight, errors."""

import asyncio
import uuid

import pytest
from prometheus_client import CollectorRegistry

from order_service.adapters.images.blob_repository import BlobImageRepository
from order_service.adapters.images.metrics import PrometheusImageMetrics
from order_service.application.images import (
    ByteBudgetCache,
    ImageMetrics,
    Images,
    LeaderCancelled,
    SingleFlight,
    StoredShare,
)
from order_service.application.ports import Principal
from order_service.domain.images import (
    Fit,
    ImageFormat,
    ImageNotFound,
    ImageTooLarge,
    ThumbnailLimits,
    ThumbnailSpec,
    UnsupportedImage,
)
from tests.fakes.images import FakeImageCodec, InMemoryBlobStore

CALLER = Principal(subject=uuid.uuid4(), roles=frozenset())
SPEC = ThumbnailSpec(width=256, height=256, fit=Fit.CONTAIN, format=ImageFormat.JPEG, quality=80)


class Recorder:
    def __init__(self) -> None:
        self.lookups: list[tuple[str, bool]] = []
        self.rejections: list[str] = []
        self.renders = 0
        self.shared = 0

    def cache_lookup(self, layer: str, *, hit: bool) -> None:
        self.lookups.append((layer, hit))

    def upload_rejected(self, reason: str) -> None:
        self.rejections.append(reason)

    def rendered(self, spec: ThumbnailSpec, seconds: float) -> None:
        assert spec.width is not None
        assert seconds >= 0
        self.renders += 1

    def render_shared(self) -> None:
        self.shared += 1


def build(
    blobs: InMemoryBlobStore | None = None, metrics: ImageMetrics | None = None
) -> tuple[Images, InMemoryBlobStore, FakeImageCodec, Recorder]:
    blobs = blobs or InMemoryBlobStore()
    codec = FakeImageCodec()
    recorder = Recorder()
    images = Images(
        blobs=blobs,
        repository=BlobImageRepository(blobs),
        codec=codec,
        cache=ByteBudgetCache(1 << 20),
        limits=ThumbnailLimits(),
        max_upload_bytes=1000,
        quality=80,
        metrics=metrics or recorder,
    )
    return images, blobs, codec, recorder


async def test_the_same_bytes_uploaded_twice_are_stored_once() -> None:
    images, blobs, codec, _ = build()
    first = await images.upload(CALLER, b"IMG one")
    second = await images.upload(CALLER, b"IMG one")
    assert first.created
    assert not second.created
    assert first.info == second.info
    assert len(codec.inspected) == 1
    assert sum(key.startswith("originals/") for key in blobs.blobs) == 1


async def test_an_upload_over_the_size_limit_is_rejected_before_decoding() -> None:
    images, _, codec, metrics = build()
    with pytest.raises(ImageTooLarge):
        await images.upload(CALLER, b"IMG" + b"x" * 1000)
    assert codec.inspected == []
    assert metrics.rejections == ["too_large"]


async def test_a_declared_type_that_contradicts_the_bytes_is_refused_and_nothing_stored() -> None:
    images, blobs, _, metrics = build()
    with pytest.raises(UnsupportedImage):
        await images.upload(CALLER, b"IMG two", declared=ImageFormat.JPEG)
    assert blobs.blobs == {}
    assert metrics.rejections == ["unsupported"]


async def test_a_thumbnail_is_rendered_once_then_served_from_memory() -> None:
    images, blobs, codec, metrics = build()
    image_id = (await images.upload(CALLER, b"IMG three")).info.id
    first = await images.thumbnail(image_id, SPEC)
    second = await images.thumbnail(image_id, SPEC)
    assert first == second
    assert len(codec.rendered) == 1
    assert metrics.lookups == [("memory", False), ("blob", False), ("memory", True)]
    assert any(key.startswith(f"variants/{image_id}/") for key in blobs.blobs)


async def test_a_variant_stored_by_another_replica_is_not_rendered_again() -> None:
    shared_blobs = InMemoryBlobStore()
    replica_a, _, codec_a, _ = build(shared_blobs)
    replica_b, _, codec_b, metrics_b = build(shared_blobs)
    image_id = (await replica_a.upload(CALLER, b"IMG four")).info.id
    await replica_a.thumbnail(image_id, SPEC)
    await replica_b.thumbnail(image_id, SPEC)
    assert len(codec_a.rendered) == 1
    assert codec_b.rendered == []
    assert ("blob", True) in metrics_b.lookups


async def test_concurrent_requests_for_one_new_variant_share_one_render() -> None:
    images, _, codec, metrics = build()
    image_id = (await images.upload(CALLER, b"IMG five")).info.id
    codec.gate = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(images.thumbnail(image_id, SPEC)) for _ in range(20)]
        async with codec.started:
            await codec.started.wait_for(lambda: len(codec.rendered) == 1)
        # The other requests ran in the same loop turn as the leader: all wait on its render.
        codec.gate.set()
    bodies = {task.result().body for task in tasks}
    assert len(bodies) == 1
    assert len(codec.rendered) == 1
    assert metrics.shared == 19


async def test_an_unknown_image_is_not_found() -> None:
    images, _, codec, _ = build()
    with pytest.raises(ImageNotFound):
        await images.thumbnail("0" * 64, SPEC)
    with pytest.raises(ImageNotFound):
        await images.original("0" * 64)
    assert codec.rendered == []


async def test_etags_differ_by_every_parameter_that_changes_the_bytes() -> None:
    images, _, _, _ = build()
    image_id = "a" * 64
    variants = [
        SPEC,
        ThumbnailSpec(width=128, height=256, fit=Fit.CONTAIN, format=ImageFormat.JPEG, quality=80),
        ThumbnailSpec(width=256, height=256, fit=Fit.COVER, format=ImageFormat.JPEG, quality=80),
        ThumbnailSpec(width=256, height=256, fit=Fit.CONTAIN, format=ImageFormat.WEBP, quality=80),
        ThumbnailSpec(width=256, height=256, fit=Fit.CONTAIN, format=ImageFormat.JPEG, quality=70),
    ]
    tags = {images.etag(image_id, spec) for spec in variants}
    assert len(tags) == len(variants)
    assert images.etag(image_id, SPEC) == images.etag(image_id, SPEC)
    assert images.etag(image_id, SPEC) != images.etag("b" * 64, SPEC)


def test_the_lru_stays_within_its_byte_budget() -> None:
    cache = ByteBudgetCache(1000)
    for index in range(50):
        cache.put(f"k{index}", b"x" * 100)
    assert cache.size_bytes <= 1000
    assert len(cache) == 10
    assert cache.get("k49") is not None
    assert cache.get("k0") is None
    cache.put("huge", b"x" * 1001)
    assert cache.get("huge") is None


async def test_followers_of_a_cancelled_leader_are_told_to_retry() -> None:
    flight: SingleFlight[bytes] = SingleFlight()
    gate, started = asyncio.Event(), asyncio.Event()

    async def slow() -> bytes:
        started.set()
        await gate.wait()
        return b"never"

    async def unused() -> bytes:
        raise AssertionError

    leader = asyncio.ensure_future(flight.do("k", slow))
    await started.wait()
    follower = asyncio.ensure_future(flight.do("k", unused))
    await asyncio.sleep(0)  # one scheduling step: the follower registers on the leader's future
    leader.cancel()
    with pytest.raises(LeaderCancelled):
        await follower
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert flight.in_flight == 0


async def test_single_flight_and_cache_layers_show_in_the_prometheus_metrics() -> None:
    registry = CollectorRegistry()
    images, _, codec, _ = build(metrics=PrometheusImageMetrics(registry))
    image_id = (await images.upload(CALLER, b"IMG six")).info.id
    codec.gate = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        for _ in range(5):
            group.create_task(images.thumbnail(image_id, SPEC))
        async with codec.started:
            await codec.started.wait_for(lambda: len(codec.rendered) == 1)
        codec.gate.set()
    await images.thumbnail(image_id, SPEC)
    with pytest.raises(UnsupportedImage):
        await images.upload(CALLER, b"not an image")

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("image_render_shared_total") == 4
    assert sample("image_cache_lookups_total", layer="memory", result="hit") == 1
    assert sample("image_cache_lookups_total", layer="memory", result="miss") == 5
    assert sample("image_cache_lookups_total", layer="blob", result="miss") == 1
    assert sample("image_render_duration_seconds_count", format="jpeg", size_class="m") == 1
    assert sample("image_uploads_rejected_total", reason="unsupported") == 1


async def test_a_torn_variant_in_the_blob_store_is_rendered_again() -> None:
    images, blobs, codec, metrics = build()
    image_id = (await images.upload(CALLER, b"IMG torn")).info.id
    # What a power loss can leave of a variant written without fsync: a cut-off file.
    blobs.blobs[f"variants/{images.variant(image_id, SPEC)}"] = b"\xff\xd8\xff\xe0 half a JPEG"
    thumbnail = await images.thumbnail(image_id, SPEC)
    assert len(codec.rendered) == 1
    assert thumbnail.body.endswith(b"\xff\xd9")
    assert ("blob", False) in metrics.lookups
    assert blobs.blobs[f"variants/{images.variant(image_id, SPEC)}"] == thumbnail.body


async def test_the_memory_fast_path_serves_only_what_the_lru_still_holds() -> None:
    images, _, _, metrics = build()
    image_id = (await images.upload(CALLER, b"IMG fast")).info.id
    variant = images.variant(image_id, SPEC)
    assert images.from_memory(variant) is None
    thumbnail = await images.thumbnail(image_id, SPEC)
    assert images.from_memory(variant) == thumbnail.body
    assert metrics.lookups[-1] == ("memory", True)


def test_the_pool_gauges_follow_every_change_of_the_render_pool() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusImageMetrics(registry)
    # Admissions and releases as a one-worker pool under load reports them.
    steps = [(0, 1), (1, 1), (2, 1), (1, 1), (1, 1), (0, 1), (0, 0), (0, 0), (3, 2)]
    for queued, in_flight in steps:
        metrics.pool_state(queued=queued, in_flight=in_flight)
        assert registry.get_sample_value("image_render_pool_queued") == queued
        assert registry.get_sample_value("image_render_pool_in_flight") == in_flight


def test_the_stored_share_follows_the_recent_lookups() -> None:
    share = StoredShare(window=8)
    verdicts = [share.likely]  # nothing seen: the renderer looks
    for _ in range(8):
        share.record(found=False)
    share.record(found=True)
    verdicts.append(share.likely)  # one found in five
    for _ in range(3):
        share.record(found=True)
    verdicts.append(share.likely)  # the store has most of them now
    for _ in range(16):
        share.record(found=False)
    verdicts.append(share.likely)  # and old finds fade
    assert verdicts == [False, False, True, False]

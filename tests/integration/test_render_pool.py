"""The bounded render pool with real Pillow workers: isolation, shedding, deadlines, crashes."""

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from order_service.adapters.images import render_worker
from order_service.adapters.images.render_pool import PoolImageCodec, PoolKind, ProcessRenderPool
from order_service.application.deadline import deadline_after
from order_service.application.images import Variant
from order_service.domain.images import (
    CorruptImage,
    Fit,
    ImageFormat,
    OriginalMissing,
    RenderFailed,
    RenderUnavailable,
    ThumbnailSpec,
)
from tests import image_samples as samples
from tests import pool_tasks

SPEC = ThumbnailSpec(width=128, height=128, fit=Fit.COVER, format=ImageFormat.WEBP, quality=75)


async def idle(codec: PoolImageCodec) -> None:
    """Wait (bounded) until every admitted render has released its slot."""
    async with asyncio.timeout(10):
        await codec.wait_idle()


@pytest.fixture
async def process_pool() -> AsyncIterator[PoolImageCodec]:
    codec = PoolImageCodec(kind="process", workers=1, queue=1)
    yield codec
    codec.close()


@pytest.mark.parametrize("kind", ["process", "thread"])
async def test_both_pool_kinds_inspect_and_render_off_the_loop(kind: PoolKind) -> None:
    codec = PoolImageCodec(kind=kind, workers=2, queue=2)
    try:
        decoded = await codec.inspect(samples.photo_jpeg(800, 600))
        assert (decoded.format, decoded.width, decoded.height) == (ImageFormat.JPEG, 800, 600)
        body = await codec.render(samples.photo_jpeg(800, 600), SPEC)
        assert body[:4] == b"RIFF"
        assert body[8:12] == b"WEBP"
        with pytest.raises(CorruptImage):
            await codec.inspect(samples.photo_jpeg(400, 300)[:2000])
    finally:
        codec.close()
    assert codec.admitted == 0


async def test_work_over_the_bound_is_shed_not_queued() -> None:
    codec = PoolImageCodec(kind="thread", workers=1, queue=1)
    release = threading.Event()
    try:
        async with asyncio.TaskGroup() as group:
            running = group.create_task(codec._run(pool_tasks.hang, release))
            queued = group.create_task(codec._run(pool_tasks.hang, release))
            await asyncio.sleep(0)  # one scheduling step: both tasks take their slots
            assert codec.admitted == 2
            with pytest.raises(RenderUnavailable) as shed:
                await codec.render(samples.photo_jpeg(64, 64), SPEC)
            assert shed.value.retry_after >= 1
            release.set()
        assert running.result() == queued.result() == b"released"
    finally:
        release.set()
        codec.close()
    assert codec.admitted == 0


async def test_a_crashed_worker_is_replaced_and_its_request_fails_cleanly(
    process_pool: PoolImageCodec,
) -> None:
    before = await process_pool._run(pool_tasks.pid)
    with pytest.raises(RenderFailed):
        await process_pool._run(pool_tasks.crash)
    after = await process_pool._run(pool_tasks.pid)
    assert after != before
    assert (await process_pool.inspect(samples.photo_jpeg(64, 48))).width == 64


async def test_a_render_past_its_deadline_is_killed_and_frees_its_slot(
    process_pool: PoolImageCodec,
) -> None:
    with deadline_after(0.5), pytest.raises(RenderUnavailable):
        await process_pool._run(pool_tasks.hang)
    await idle(process_pool)
    assert (await process_pool.inspect(samples.photo_jpeg(64, 48))).height == 48


async def test_a_cancelled_request_frees_its_slot(process_pool: PoolImageCodec) -> None:
    task = asyncio.ensure_future(process_pool._run(pool_tasks.hang))
    await asyncio.sleep(0)  # one scheduling step: the task takes its slot
    assert process_pool.admitted == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await idle(process_pool)
    assert (await process_pool.inspect(samples.photo_jpeg(64, 48))).width == 64


async def test_a_worker_that_died_while_idle_is_replaced_before_the_next_render(
    process_pool: PoolImageCodec,
) -> None:
    before = int(await process_pool._run(pool_tasks.pid))
    os.kill(before, signal.SIGKILL)  # the OOM killer, or an operator
    pool = process_pool._pool
    assert isinstance(pool, ProcessRenderPool)
    (idle,) = pool._idle
    async with asyncio.timeout(10):
        assert await idle.reader.read() == b""  # the end of its socket: it is gone
    assert not idle.alive
    after = int(await process_pool._run(pool_tasks.pid))
    assert after != before


async def test_a_codec_bug_fails_its_request_and_the_worker_serves_on(
    process_pool: PoolImageCodec,
) -> None:
    before = await process_pool._run(pool_tasks.pid)
    with pytest.raises(RenderFailed):
        await process_pool._run(pool_tasks.fail)
    assert await process_pool._run(pool_tasks.pid) == before


@pytest.mark.parametrize("reply", [b"", b"\x07unknown status", b"\x00too short for a render"])
def test_a_reply_that_breaks_the_format_is_a_failed_render_not_an_object(reply: bytes) -> None:
    # What a worker taken over by a hostile file could send: parsed as data, then refused.
    def decode(raw: bytes) -> object:
        return render_worker.decode_render(render_worker.open_reply(raw))

    with pytest.raises(RenderFailed):
        PoolImageCodec._decoded(decode, reply)


async def test_renders_read_a_local_original_by_path(
    process_pool: PoolImageCodec, tmp_path: Path
) -> None:
    original = tmp_path / "original"
    original.write_bytes(samples.photo_jpeg(400, 300))
    body = await process_pool.render(original, SPEC)
    assert body[8:12] == b"WEBP"
    with pytest.raises(OriginalMissing):
        await process_pool.render(tmp_path / "gone", SPEC)


async def never_asked() -> bytes | None:
    raise AssertionError("the server looked in the store although a worker was free")


@pytest.fixture
def original(tmp_path: Path) -> Path:
    path = tmp_path / "original"
    path.write_bytes(samples.photo_jpeg(400, 300))
    return path


async def occupy(codec: PoolImageCodec) -> "asyncio.Future[bytes]":
    """A render that holds the pool's one worker until it is cancelled (its worker killed)."""
    busy = asyncio.ensure_future(codec._run(pool_tasks.hang))
    await asyncio.sleep(0)  # one scheduling step: it takes the slot and the worker
    assert codec.admitted == 1
    return busy


Busy = tuple[PoolImageCodec, "asyncio.Future[bytes]"]


@pytest.fixture
async def one_busy_worker() -> AsyncIterator[Busy]:
    """A pool of one worker, busy with a render that lasts until cancelled; a short patience."""
    codec = PoolImageCodec(kind="process", workers=1, queue=1, stored_patience=0.01)
    busy = await occupy(codec)
    yield codec, busy
    busy.cancel()
    codec.close()


async def test_the_worker_sends_back_a_stored_variant_and_renders_a_torn_one_again(
    process_pool: PoolImageCodec, original: Path, tmp_path: Path
) -> None:
    target = tmp_path / "variants" / "v.webp"
    first = await process_pool.stored_or_render(original, SPEC, target, stored=never_asked)
    assert first.rendered
    assert target.read_bytes() == first.body
    again = await process_pool.stored_or_render(original, SPEC, target, stored=never_asked)
    assert again == Variant(first.body, rendered=False)
    target.write_bytes(first.body[: len(first.body) // 2])  # what a crash can leave unsynced
    repaired = await process_pool.stored_or_render(original, SPEC, target, stored=never_asked)
    assert repaired.rendered
    assert target.read_bytes() == repaired.body == first.body


async def test_a_stored_variant_does_not_wait_behind_a_render(
    one_busy_worker: Busy, original: Path, tmp_path: Path
) -> None:
    codec, busy = one_busy_worker

    async def found() -> bytes | None:
        return b"stored by another replica"

    variant = await codec.stored_or_render(original, SPEC, tmp_path / "v.webp", stored=found)
    assert variant == Variant(b"stored by another replica", rendered=False)
    assert not busy.done()  # answered while the render it would have waited for still runs
    assert codec.admitted == 1


async def test_a_render_whose_variant_is_not_stored_keeps_its_place_in_line(
    one_busy_worker: Busy, original: Path, tmp_path: Path
) -> None:
    codec, busy = one_busy_worker
    looked = asyncio.Event()

    async def missing() -> bytes | None:
        looked.set()
        return None

    target = tmp_path / "v.webp"
    waiting = asyncio.ensure_future(codec.stored_or_render(original, SPEC, target, stored=missing))
    async with asyncio.timeout(10):
        await looked.wait()
    assert not waiting.done()
    busy.cancel()  # its worker is killed: the waiting render gets the replacement
    variant = await waiting
    assert variant.rendered
    assert target.read_bytes() == variant.body
    assert codec.admitted == 0


async def test_at_capacity_a_stored_variant_is_served_and_a_render_shed(
    original: Path, tmp_path: Path
) -> None:
    codec = PoolImageCodec(kind="process", workers=1, queue=0)
    try:
        busy = await occupy(codec)

        async def found() -> bytes | None:
            return b"stored"

        async def missing() -> bytes | None:
            return None

        target = tmp_path / "v.webp"
        assert (
            await codec.stored_or_render(original, SPEC, target, stored=found)
        ).body == b"stored"
        with pytest.raises(RenderUnavailable):
            await codec.stored_or_render(original, SPEC, target, stored=missing)
        busy.cancel()
        await idle(codec)
    finally:
        codec.close()


async def test_a_request_cancelled_while_the_server_looks_stops_the_look_and_frees_its_slot(
    one_busy_worker: Busy, original: Path, tmp_path: Path
) -> None:
    codec, busy = one_busy_worker
    looking, stopped = asyncio.Event(), asyncio.Event()

    async def slow() -> bytes | None:
        looking.set()
        try:
            await asyncio.Event().wait()  # a store that does not answer
        except asyncio.CancelledError:
            stopped.set()
            raise
        return None

    request = asyncio.ensure_future(
        codec.stored_or_render(original, SPEC, tmp_path / "v.webp", stored=slow)
    )
    async with asyncio.timeout(10):
        await looking.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    async with asyncio.timeout(10):
        await stopped.wait()
    assert codec.admitted == 1  # the busy render's slot only
    assert not busy.done()  # and its worker was not killed for this request

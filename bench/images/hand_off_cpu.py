"""Server-side CPU of one uncached thumbnail, without HTTP: the use case, the blob store and
the render pool's hand-off, per pool kind (the render itself runs in the worker process with
`process`, and is included with `thread`).

    uv run python bench/images/hand_off_cpu.py

Everything is pinned to one core, sequential renders of a 640x480 photo into new boxes; the
process's own CPU time (all its threads) per render, three rounds.
"""

import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from order_service.adapters.blobs.filesystem import FilesystemBlobStore
from order_service.adapters.images.blob_repository import BlobImageRepository
from order_service.adapters.images.metrics import PrometheusImageMetrics
from order_service.adapters.images.render_pool import PoolImageCodec, PoolKind
from order_service.application.images import ByteBudgetCache, Images
from order_service.application.ports import Principal
from order_service.domain.images import Fit, ImageFormat, ThumbnailLimits, ThumbnailSpec
from tests.image_samples import photo_jpeg

RENDERS = 400


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(kind: PoolKind) -> None:
    blobs = FilesystemBlobStore(Path(tempfile.mkdtemp(prefix="hand-off-")))
    metrics = PrometheusImageMetrics(CollectorRegistry())
    codec = PoolImageCodec(kind=kind, workers=1, queue=8, gauges=metrics)
    images = Images(
        blobs=blobs,
        repository=BlobImageRepository(blobs),
        codec=codec,
        cache=ByteBudgetCache(64 << 20),
        limits=ThumbnailLimits(),
        max_upload_bytes=20 << 20,
        quality=80,
        metrics=metrics,
    )
    caller = Principal(subject=uuid.uuid4(), roles=frozenset())
    info = (await images.upload(caller, photo_jpeg(640, 480, seed=640))).info
    count = 0
    try:
        for _ in range(3):
            cpu, wall = cpu_seconds(), time.perf_counter()
            for _ in range(RENDERS):
                count += 1
                box = (256 - count // 100 % 100, 256 - count % 100)
                spec = ThumbnailSpec(*box, Fit.CONTAIN, ImageFormat.JPEG, 80)
                await images.thumbnail(info.id, spec)
            cpu_ms = (cpu_seconds() - cpu) / RENDERS * 1e3
            wall_ms = (time.perf_counter() - wall) / RENDERS * 1e3
            print(f"{kind:>7}: server CPU {cpu_ms:.2f} ms per render (wall {wall_ms:.2f} ms)")
    finally:
        codec.close()


def main() -> None:
    os.sched_setaffinity(0, {1})
    for kind in ("process", "thread"):
        asyncio.run(measure(kind))


if __name__ == "__main__":
    main()

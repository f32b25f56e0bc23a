"""Threads or processes for renders: the same codec through PoolImageCodec, one core, no HTTP.

Sequential renders into a 256x256 box; the process and everything it starts (forkserver,
render workers inherit the affinity) is pinned to one core; interleaved rounds, best of three.
"""

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from order_service.adapters.images.render_pool import PoolImageCodec  # noqa: E402
from order_service.domain.images import Fit, ImageFormat, ThumbnailSpec  # noqa: E402
from tests.image_samples import photo_jpeg  # noqa: E402

SPEC = ThumbnailSpec(256, 256, Fit.CONTAIN, ImageFormat.JPEG, 80)
SIZES = [(640, 480), (1920, 1080), (4000, 3000)]


async def rate(codec: PoolImageCodec, data: bytes, seconds: float) -> float:
    await codec.render(data, SPEC)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await codec.render(data, SPEC)
        count += 1
    return count / (time.perf_counter() - started)


async def main() -> None:
    os.sched_setaffinity(0, {1})
    photos = {f"{w}x{h}": photo_jpeg(w, h, seed=w) for w, h in SIZES}
    pools = {kind: PoolImageCodec(kind=kind, workers=1, queue=4) for kind in ("process", "thread")}
    try:
        for name, data in photos.items():
            best = dict.fromkeys(pools, 0.0)
            for _ in range(3):
                for kind, codec in pools.items():
                    best[kind] = max(best[kind], await rate(codec, data, 1.5))
            ratio = best["process"] / best["thread"]
            print(
                f"{name:>10}  process={best['process']:.1f}  thread={best['thread']:.1f}  "
                f"process/thread={ratio:.2f}"
            )
    finally:
        for codec in pools.values():
            codec.close()


if __name__ == "__main__":
    asyncio.run(main())

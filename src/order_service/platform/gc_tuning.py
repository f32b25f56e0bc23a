"""Garbage-collector settings for a long-running server (measured in docs/performance.md).

CPython frees almost everything by reference counting; the cyclic collector only looks for
cycles. Its pauses grow with the number of tracked objects it must traverse, and a server
carries tens of thousands of them from start-up (modules, classes, the wiring) that will never
become garbage. `gc.freeze()` moves those into a permanent generation that collections skip,
so full collections stay short; the young-generation threshold trades how often the collector
runs against how much it scans each time.

What a warm service adds in its first minute (pool connections, buffers, the exporter's and
the subscriber's objects) is long-lived too: `freeze_when_warm` freezes once more, later.
"""

import asyncio
import gc
import logging
import time

_log = logging.getLogger(__name__)


def tune_gc(*, freeze: bool, gen0_threshold: int) -> None:
    """Apply the thresholds; with `freeze`, collect once and exempt what survived start-up."""
    if gen0_threshold == 0:
        gc.disable()
    else:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
    if freeze:
        gc.collect()
        gc.freeze()
    _log.info(
        "garbage collector tuned",
        extra={
            "gc_thresholds": list(gc.get_threshold()),
            "gc_enabled": gc.isenabled(),
            "gc_frozen_objects": gc.get_freeze_count(),
        },
    )


async def freeze_when_warm(after_seconds: float) -> None:
    """Once the service has served for `after_seconds`, collect once and freeze again.

    The collection first frees the garbage cycles of the moment, so freezing leaks nothing
    but what requests in flight still hold (once, a few requests' worth). It is one pause of
    a few milliseconds, logged; afterwards full collections walk only what is newer.
    """
    await asyncio.sleep(after_seconds)
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    _log.info(
        "garbage collector frozen once warm",
        extra={
            "gc_frozen_objects": gc.get_freeze_count(),
            "gc_pause_ms": round((time.perf_counter() - started) * 1000, 3),
        },
    )

"""Benchmark probe: GC pauses and event-loop lag of any Python server, without touching its code.

The harness puts this directory on PYTHONPATH of the process under test and sets
BENCH_PROBE_DIR. Python imports `sitecustomize` at start-up, so every stack (ceiling, peer,
order-service) is measured the same way:

- GC pauses: `gc.callbacks` time every collection (start to stop), per generation.
- Loop lag: once the first collection reveals the running event loop, a ticker on that loop
  wakes every 10 ms and records how long a callback made ready then waits before it runs.

The harness asks for a snapshot by creating `dump-request` in the directory; the ticker sees it
within 10 ms, writes `stats.json` (everything since the last snapshot) and removes the request.
Without BENCH_PROBE_DIR this module does nothing.
"""

import asyncio
import gc
import json
import os
import threading
import time
from pathlib import Path

_DIR = os.environ.get("BENCH_PROBE_DIR")
_TICK = 0.010


class _Probe:
    def __init__(self, directory: str) -> None:
        self.request = Path(directory) / "dump-request"
        self.output = Path(directory) / "stats.json"
        self.pauses: list[tuple[int, int]] = []  # (generation, nanoseconds)
        self.lags: list[int] = []  # nanoseconds
        self._started = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
            return
        self.pauses.append((info["generation"], time.perf_counter_ns() - self._started))
        if self._loop is None:
            loop = asyncio._get_running_loop()
            if loop is not None:
                self._loop = loop
                # Start the ticker from another thread: call_soon_threadsafe is the one loop
                # method that is safe to call while the loop may be inside its own machinery.
                threading.Thread(target=self._start, args=(loop,), daemon=True).start()

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_soon_threadsafe(self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        # uvloop's timers have millisecond resolution, so the lag is not "how late did the timer
        # fire" but "how long does a callback made ready now wait to run": the rest of this
        # loop iteration plus the next round of I/O callbacks, in nanoseconds.
        loop.call_soon(self._ran, loop, time.perf_counter_ns())

    def _ran(self, loop: asyncio.AbstractEventLoop, queued_ns: int) -> None:
        self.lags.append(time.perf_counter_ns() - queued_ns)
        if self.request.exists():
            self._dump()
        loop.call_later(_TICK, self._tick, loop)

    def _dump(self) -> None:
        pauses, self.pauses = self.pauses, []
        lags, self.lags = self.lags, []
        stats = {
            "gc_pauses_ns": [ns for _, ns in pauses],
            "gc_generations": [generation for generation, _ in pauses],
            "loop_lag_ns": lags,
            "gc_thresholds": list(gc.get_threshold()),
            "gc_frozen": gc.get_freeze_count(),
        }
        tmp = self.output.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats))
        tmp.replace(self.output)
        self.request.unlink(missing_ok=True)


if _DIR:
    _probe = _Probe(_DIR)
    gc.callbacks.append(_probe.on_gc)

"""Request deadlines enforced by one watchdog task instead of one timer per request.

`asyncio.timeout` schedules and cancels a timer handle for every request: about a third of the
HTTP adapter's CPU cost on the hot path (docs/adr/0002-http-stack.md). The watchdog keeps a
dict of in-flight tasks and their deadlines, and a single ticker cancels the overdue ones. A
deadline is enforced within `resolution` seconds of passing, which is what deadlines of seconds
need; I/O calls are still bounded precisely by `application.deadline.remaining()`.
"""

import asyncio
import time


class DeadlineWatchdog:
    def __init__(self, resolution: float = 0.05) -> None:
        self._resolution = resolution
        self._deadlines: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()

    def watch(self, task: asyncio.Task[object], at: float) -> None:
        """Cancel `task` once `time.monotonic()` passes `at`, unless it is unwatched first."""
        self._deadlines[task] = at

    def unwatch(self, task: asyncio.Task[object]) -> bool:
        """Stop watching; True when the watchdog cancelled the task (its deadline passed).

        In that case the cancellation is withdrawn (`Task.uncancel`), so the caller can turn it
        into a timeout answer while any outer cancellation still propagates.
        """
        self._deadlines.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    @property
    def watched(self) -> int:
        return len(self._deadlines)

    async def run(self) -> None:
        """The ticker; runs until cancelled (by the owning lifespan's TaskGroup)."""
        while True:
            await asyncio.sleep(self._resolution)
            self.expire(time.monotonic())

    def expire(self, now: float) -> None:
        for task, at in list(self._deadlines.items()):
            if at <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel("the request's deadline passed")

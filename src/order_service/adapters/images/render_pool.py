"""The ImageCodec port over a bounded pool of render workers (processes by default, or threads).

Bounded hand-off: at most `workers + queue` renders are admitted at once; the next one is shed
with RenderUnavailable (503 + Retry-After) instead of waiting without bound. Each render is
bounded by the request's remaining deadline. With processes, a render past its deadline or
whose request was cancelled has its worker killed and replaced, and a worker that crashes (a
codec fault) is replaced while its request gets RenderFailed: the pool never hangs.

The process pool talks to each worker over a Unix socket pair through the event loop itself
(asyncio streams): no helper threads, no polling, one write and one read per render. A worker
never sends objects back, only bytes parsed as data (render_worker.py). See
docs/adr/0030-image-thumbnailer.md for the measurements behind both choices.
"""

import asyncio
import collections
import concurrent.futures
import contextlib
import importlib
import logging
import multiprocessing
import pickle
import socket
from collections.abc import Callable
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import Tracer

from order_service.adapters.images import codec_values, render_worker
from order_service.adapters.images.codec_values import RenderResult
from order_service.adapters.images.tracing import images_tracer
from order_service.application.deadline import remaining
from order_service.application.images import DecodedImage, StoredLookup, Variant
from order_service.domain.images import (
    CorruptImage,
    DecompressionBomb,
    ImageFormat,
    ImageRejected,
    OriginalMissing,
    RenderFailed,
    RenderUnavailable,
    ThumbnailSpec,
    UnsupportedImage,
)
from order_service.platform.tracing import child_span

_log = logging.getLogger(__name__)
R = TypeVar("R")
PoolKind = Literal["process", "thread"]


class PoolGauges(Protocol):
    def pool_state(self, *, queued: int, in_flight: int) -> None: ...


class _NoGauges:
    def pool_state(self, *, queued: int, in_flight: int) -> None:
        pass


def _rejection(error: codec_values.CodecRejection) -> ImageRejected | OriginalMissing:
    if error.kind == "missing":
        return OriginalMissing(error.message)
    kinds: dict[str, type[ImageRejected]] = {
        "unsupported": UnsupportedImage,
        "bomb": DecompressionBomb,
    }
    return kinds.get(error.kind, CorruptImage)(error.message)


# A worker's reply larger than this is treated as a fault (bounded memory in the server).
_MAX_REPLY = 256 * 1024 * 1024
# How long a render that may find its variant stored waits in line for a worker before the
# server looks in the store itself: the bound on how long a stored variant waits behind
# renders (docs/adr/0030-image-thumbnailer.md, 2e). 50 ms: about a blob read from S3, and
# longer than the wait in line that a few renders in flight cause (at 20 ms, 3 renders of a
# 1080p photo queued behind one another already paid the server's lookup on each).
STORED_PATIENCE_SECONDS = 0.05


class _LookWhileQueued:
    """The server's own look in the store, for a render that waits in line for a worker.

    The worker looks for the variant before rendering it, so a render that gets a worker at
    once costs the server no lookup. One that has waited `patience` for a worker runs `look`
    (the blob store's thread hop) meanwhile, keeping its place in line; if the variant is found
    before a worker is, the call leaves the line and `found` is its answer.
    """

    def __init__(self, look: StoredLookup, patience: float) -> None:
        self.found: bytes | None = None
        self._look = look
        self._patience = patience
        self._waiter: asyncio.Future[bool] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[bytes | None] | None = None

    def waiting(self, waiter: asyncio.Future[bool]) -> None:
        """The call waits on `waiter`; the patience counts from its first wait."""
        self._waiter = waiter
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._patience, self._start)

    def _start(self) -> None:
        self._task = asyncio.ensure_future(self._look())
        self._task.add_done_callback(self._looked)

    def _looked(self, task: "asyncio.Task[bytes | None]") -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # the worker looks too, once it has the render
            _log.warning("looking for a stored variant failed: %r", error)
            return
        self.found = task.result()
        if self.found is not None and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)  # withdrawn from the line: the answer is found

    def stop(self) -> None:
        """The call got a worker, left the line or gave up: no look from now on."""
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()


class _Worker:
    """One render process and the server's end of its socket."""

    def __init__(
        self, process: BaseProcess, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.process = process
        self.reader = reader
        self.writer = writer
        self.tasks = 0

    async def call(self, request: bytes) -> bytes:
        self.writer.write(render_worker.LENGTH.pack(len(request)) + request)
        await self.writer.drain()
        header = await self.reader.readexactly(render_worker.LENGTH.size)
        (size,) = render_worker.LENGTH.unpack(header)
        if size > _MAX_REPLY:
            raise render_worker.MalformedReply(f"a reply of {size} bytes")
        return await self.reader.readexactly(size)

    @property
    def alive(self) -> bool:
        """False once its end of the socket closed: the process died (the OOM killer, an
        operator). The loop reads the socket while the worker is idle, so this is a flag to
        read, where `process.is_alive()` is a poll(2) on every render."""
        return not self.reader.at_eof()

    def kill(self) -> None:
        self.writer.close()
        if self.process.is_alive():
            self.process.kill()


class ProcessRenderPool:
    """`size` worker processes from a forkserver, started when first needed and replaced when
    they die, are killed, or have run `max_tasks` renders (so allocator fragmentation cannot
    grow). The caller bounds admission; this only hands out idle workers in arrival order."""

    def __init__(self, size: int, *, max_tasks: int = 10_000) -> None:
        # forkserver: never fork the serving process (its event loop, its driver threads).
        self._context: ForkServerContext = multiprocessing.get_context("forkserver")
        # Pillow is imported there once for every worker, and never in the serving process.
        self._context.set_forkserver_preload(
            [
                "order_service.adapters.images.render_worker",
                "order_service.adapters.images.pillow_codec",
            ]
        )
        self._size = size
        self._max_tasks = max_tasks
        self._idle: list[_Worker] = []
        self._live = 0  # started or starting, not yet discarded
        # Each resolves True when its call left the line (its answer was found meanwhile),
        # False when a worker may be free for it.
        self._waiters: collections.deque[asyncio.Future[bool]] = collections.deque()
        self._dead: list[BaseProcess] = []
        self._closed = False

    def start_forkserver(self) -> None:
        """Start the forkserver (it imports Pillow once for every worker) before serving, so
        that starting a worker later is one quick fork request made on the event loop."""
        forkserver.ensure_running()

    async def call(
        self,
        function: Callable[..., bytes],
        args: tuple[Any, ...],
        *,
        meanwhile: _LookWhileQueued | None = None,
    ) -> bytes | None:
        """The worker's raw reply to `function(*args)`; a cancelled or failed call kills it.
        None when the call left the line because `meanwhile` found its answer first."""
        request = pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            worker = await self._acquire(meanwhile)
        finally:
            if meanwhile is not None:
                meanwhile.stop()
        if worker is None:
            return None
        try:
            reply = await worker.call(request)
        except BaseException:
            self._discard(worker)  # cancelled, past its deadline, crashed or talking nonsense
            raise
        worker.tasks += 1
        if not reply or reply[0] not in render_worker.STATUSES:
            self._discard(worker)  # it broke the protocol: it will not get another image
            raise render_worker.MalformedReply("a reply without a known status")
        if worker.tasks >= self._max_tasks:
            self._discard(worker)
        else:
            self._idle.append(worker)
            self._wake_one()
        return reply

    async def _acquire(self, meanwhile: _LookWhileQueued | None) -> _Worker | None:
        loop = asyncio.get_running_loop()
        while True:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                self._discard(worker)  # died while idle (the OOM killer, an operator)
            if self._closed:
                raise RenderUnavailable("the image renderer is shutting down", 1.0)
            if self._live < self._size:
                self._live += 1
                try:
                    return await self._start()
                except BaseException:
                    self._live -= 1
                    self._wake_one()
                    raise
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiters.append(waiter)
            if meanwhile is not None:
                meanwhile.waiting(waiter)
            try:
                withdrawn = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and not waiter.result():
                    self._wake_one()  # woken and cancelled at once: pass the turn on
                raise
            if withdrawn:
                return None

    async def _start(self) -> _Worker:
        ours, theirs = socket.socketpair()
        try:
            # Streams first: once the process runs, nothing here awaits, so a cancellation can
            # never leave a started worker that no one tracks.
            reader, writer = await asyncio.open_unix_connection(sock=ours)
        except BaseException:
            ours.close()
            theirs.close()
            raise
        try:
            process = self._context.Process(
                target=render_worker.serve, args=(theirs,), name="image-render", daemon=True
            )
            # With the forkserver already running (see `start_forkserver`) this is one fork
            # request, about a millisecond, so it is done on the loop.
            process.start()
        except BaseException:
            writer.close()
            raise
        finally:
            theirs.close()
        self._reap()
        return _Worker(process, reader, writer)

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        self._dead.append(worker.process)
        self._live -= 1
        self._wake_one()  # a waiter may start the replacement

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)
                return

    def _reap(self) -> None:
        """Collect killed workers' exit statuses, so none stays a zombie."""
        self._dead = [process for process in self._dead if not _joined(process)]

    def close(self) -> None:
        self._closed = True
        for worker in self._idle:
            worker.kill()
            self._dead.append(worker.process)
        self._idle.clear()
        for process in self._dead:
            process.join(timeout=5)
        self._dead.clear()


def _joined(process: BaseProcess) -> bool:
    process.join(timeout=0)
    return process.exitcode is not None


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run `callback` on the loop's thread (done callbacks run in the pool's threads)."""
    # A closed loop means the service is shutting down: the count no longer matters.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)


class PoolImageCodec:
    """Pillow renders in a bounded worker pool; implements the application's ImageCodec."""

    def __init__(
        self,
        *,
        kind: PoolKind = "process",
        workers: int = 2,
        queue: int = 8,
        max_pixels: int = 50_000_000,
        max_render_seconds: float = 30.0,
        stored_patience: float = STORED_PATIENCE_SECONDS,
        gauges: PoolGauges | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._kind = kind
        self._stored_patience = stored_patience
        self._workers = workers
        self._capacity = workers + queue
        self._max_pixels = max_pixels
        self._max_seconds = max_render_seconds
        self._gauges = gauges or _NoGauges()
        self._tracer = tracer or images_tracer()
        self._admitted = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._outputs = codec_values.available_outputs()
        self._pool: ProcessRenderPool | concurrent.futures.ThreadPoolExecutor
        if kind == "process":
            self._pool = ProcessRenderPool(workers)
            self._pool.start_forkserver()
        else:
            # Renders run in this process: load Pillow now, not during the first request.
            importlib.import_module("order_service.adapters.images.pillow_codec")
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="render"
            )

    @property
    def encoder(self) -> str:
        return codec_values.ENCODER

    @property
    def outputs(self) -> frozenset[ImageFormat]:
        return self._outputs

    @property
    def admitted(self) -> int:
        """Renders admitted and not yet finished (running or queued)."""
        return self._admitted

    async def wait_idle(self) -> None:
        """Return once no render is admitted (the work itself stopped, not just its request)."""
        await self._idle.wait()

    async def inspect(self, data: bytes) -> DecodedImage:
        attributes = {"image.bytes": len(data)}
        with child_span(self._tracer, "image inspect", attributes):
            reply = await self._run(render_worker.encode_inspect, data, self._max_pixels)
            fmt, width, height = self._decoded(render_worker.decode_inspect, reply)
        return DecodedImage(format=ImageFormat(fmt), width=width, height=height)

    async def render(
        self, source: bytes | Path, spec: ThumbnailSpec, *, store_at: Path | None = None
    ) -> bytes:
        result = await self._render(source, spec, store_at)
        if result is None:  # not reached: only a render that may reuse a stored one leaves
            raise RenderFailed("the render was withdrawn")
        return result.body

    async def stored_or_render(
        self, source: Path, spec: ThumbnailSpec, store_at: Path, *, stored: StoredLookup
    ) -> Variant:
        if not isinstance(self._pool, ProcessRenderPool) or self._admitted >= self._capacity:
            # Threads wait in the executor's queue, out of sight, so the server looks first;
            # and at capacity a stored variant is served rather than shed with the renders.
            body = await stored()
            if body is not None:
                return Variant(body, rendered=False)
            return Variant(await self.render(source, spec, store_at=store_at), rendered=True)
        meanwhile = _LookWhileQueued(stored, self._stored_patience)
        result = await self._render(source, spec, store_at, meanwhile=meanwhile)
        if result is None:
            if meanwhile.found is None:  # not reached: a call leaves the line only with it
                raise RenderFailed("the render was withdrawn")
            return Variant(meanwhile.found, rendered=False)
        return Variant(result.body, rendered=not result.stored)

    async def _render(
        self,
        source: bytes | Path,
        spec: ThumbnailSpec,
        store_at: Path | None,
        *,
        meanwhile: _LookWhileQueued | None = None,
    ) -> RenderResult | None:
        request = codec_values.RenderRequest(
            width=spec.width,
            height=spec.height,
            fit=spec.fit.value,
            format=spec.format.value,
            quality=spec.quality,
        )
        attributes: dict[str, str | int] = {
            "image.format": spec.format.value,
            "image.size_class": spec.size_class,
            "image.fit": spec.fit.value,
        }
        if isinstance(source, bytes):
            attributes["image.bytes"] = len(source)
        with child_span(self._tracer, "image render", attributes) as span:
            # A local file is read by the worker itself: no megabytes through the socket.
            reply = await self._run(
                render_worker.encode_render,
                source if isinstance(source, bytes) else str(source),
                request,
                self._max_pixels,
                None if store_at is None else str(store_at),
                meanwhile is not None,  # the worker may send back a variant already stored
                meanwhile=meanwhile,
            )
            if reply is None:
                span.set_attribute("image.stored", value=True)  # found by the server meanwhile
                return None
            result = self._decoded(render_worker.decode_render, reply)
            if result.stored:
                span.set_attribute("image.stored", value=True)
            elif span.is_recording():
                # Decode, resize and encode ran in the worker, which has no tracer: it timed
                # them, and their spans are made here, as children of this one.
                parent = trace.set_span_in_context(span)
                for phase, start, end in result.phases:
                    if phase == "store" and store_at is None:
                        continue
                    child = self._tracer.start_span(
                        f"image {phase}", context=parent, start_time=start
                    )
                    child.end(end_time=end)
            return result

    @staticmethod
    def _decoded(decode: Callable[[bytes], R], reply: bytes) -> R:
        try:
            return decode(reply)
        except render_worker.MalformedReply:
            _log.error("render worker sent a malformed reply")
            raise RenderFailed("the image renderer failed on this image") from None

    @overload
    async def _run(self, function: Callable[..., bytes], *args: Any) -> bytes: ...  # noqa: ANN401 - forwarded to the worker untouched

    @overload
    async def _run(
        self,
        function: Callable[..., bytes],
        *args: Any,  # noqa: ANN401 - forwarded to the worker untouched
        meanwhile: _LookWhileQueued | None,
    ) -> bytes | None: ...

    async def _run(
        self,
        function: Callable[..., bytes],
        *args: Any,
        meanwhile: _LookWhileQueued | None = None,
    ) -> bytes | None:
        """The function's bytes, run in a worker within the deadline; domain errors otherwise.
        None when `meanwhile` found the answer while the call waited for a worker."""
        if self._admitted >= self._capacity:
            raise RenderUnavailable("the image renderer is at capacity", 1.0)
        timeout = remaining(self._max_seconds)
        self._admitted += 1
        self._idle.clear()
        self._report()
        # The slot is freed when the work really stops, not when the request gives up: a
        # process is killed at once; a thread cannot be stopped, so it frees its slot later.
        thread_frees_slot = False
        try:
            async with asyncio.timeout(timeout):
                reply: bytes | None
                if isinstance(self._pool, ProcessRenderPool):
                    reply = await self._pool.call(function, args, meanwhile=meanwhile)
                else:
                    future = self._pool.submit(render_worker.reply_for, function, args)
                    try:
                        reply = await asyncio.wrap_future(future)
                    except BaseException:
                        if not future.cancelled():  # running: it ends on its own, later
                            thread_frees_slot = True
                            loop = asyncio.get_running_loop()
                            future.add_done_callback(lambda _: _call_soon(loop, self._release))
                        raise
            return None if reply is None else render_worker.open_reply(reply)
        except codec_values.CodecRejection as error:
            raise _rejection(error) from None
        except (asyncio.IncompleteReadError, ConnectionError):
            _log.error("render worker died", extra={"task": function.__name__})
            raise RenderFailed("the image renderer crashed on this image") from None
        except TimeoutError:
            raise RenderUnavailable("the render did not finish within the deadline", 1.0) from None
        except render_worker.MalformedReply:
            _log.error("render worker sent a malformed reply", extra={"task": function.__name__})
            raise RenderFailed("the image renderer failed on this image") from None
        except render_worker.WorkerFailed as error:
            _log.error("render worker raised: %s", error, extra={"task": function.__name__})
            raise RenderFailed("the image renderer failed on this image") from None
        finally:
            if not thread_frees_slot:
                self._release()

    def _release(self) -> None:
        self._admitted -= 1
        if self._admitted == 0:
            self._idle.set()
        self._report()

    def _report(self) -> None:
        admitted = max(0, self._admitted)
        in_flight = min(admitted, self._workers)
        self._gauges.pool_state(queued=admitted - in_flight, in_flight=in_flight)

    def close(self) -> None:
        if isinstance(self._pool, ProcessRenderPool):
            self._pool.close()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)

"""The ImageCodec port over a bounded pool of render workers (processes by default, or threads).

Bounded hand-off: at most `workers + queue` renders are admitted at once; the next one is shed
with RenderUnavailable (503 + Retry-After) instead of waiting without bound. Each render is
bounded by the request's remaining deadline. With processes (pebble), a render past its
deadline or whose request was cancelled has its worker killed and replaced, and a worker that
crashes (a codec fault) is replaced while its request gets RenderFailed: the pool never hangs.
See docs/adr/0030-image-thumbnailer.md for the threads-versus-processes measurements.
"""

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Tracer
from pebble import ProcessExpired, ProcessPool

from order_service.adapters.images import pillow_codec
from order_service.adapters.images.tracing import images_tracer
from order_service.application.deadline import remaining
from order_service.application.images import DecodedImage
from order_service.domain.images import (
    CorruptImage,
    DecompressionBomb,
    ImageFormat,
    ImageRejected,
    RenderFailed,
    RenderUnavailable,
    ThumbnailSpec,
    UnsupportedImage,
)

_log = logging.getLogger(__name__)
T = TypeVar("T")
PoolKind = Literal["process", "thread"]


class PoolGauges(Protocol):
    def pool_state(self, *, queued: int, in_flight: int) -> None: ...


class _NoGauges:
    def pool_state(self, *, queued: int, in_flight: int) -> None:
        pass


def _rejection(error: pillow_codec.CodecRejection) -> ImageRejected:
    kinds: dict[str, type[ImageRejected]] = {
        "unsupported": UnsupportedImage,
        "bomb": DecompressionBomb,
    }
    return kinds.get(error.kind, CorruptImage)(error.message)


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
        gauges: PoolGauges | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._kind = kind
        self._workers = workers
        self._capacity = workers + queue
        self._max_pixels = max_pixels
        self._max_seconds = max_render_seconds
        self._gauges = gauges or _NoGauges()
        self._tracer = tracer or images_tracer()
        self._admitted = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._outputs = pillow_codec.available_outputs()
        self._pool: ProcessPool | concurrent.futures.ThreadPoolExecutor
        if kind == "process":
            # forkserver: never fork the serving process (its event loop, its driver threads).
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["order_service.adapters.images.pillow_codec"])
            # max_tasks recycles a worker now and then, so allocator fragmentation cannot grow.
            self._pool = ProcessPool(max_workers=workers, max_tasks=500, context=context)
        else:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="render"
            )

    @property
    def encoder(self) -> str:
        return pillow_codec.ENCODER

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
        span = self._tracer.start_span("image inspect", attributes=attributes)
        with trace.use_span(span, end_on_exit=True):
            found = await self._run(pillow_codec.inspect_image, data, self._max_pixels)
        fmt, width, height = found
        return DecodedImage(format=ImageFormat(fmt), width=width, height=height)

    async def render(self, data: bytes, spec: ThumbnailSpec) -> bytes:
        request = pillow_codec.RenderRequest(
            width=spec.width,
            height=spec.height,
            fit=spec.fit.value,
            format=spec.format.value,
            quality=spec.quality,
        )
        attributes = {
            "image.bytes": len(data),
            "image.format": spec.format.value,
            "image.size_class": spec.size_class,
            "image.fit": spec.fit.value,
        }
        # Decode (with shrink-on-load), resize and encode, all in the worker, in this one span.
        span = self._tracer.start_span("image render", attributes=attributes)
        with trace.use_span(span, end_on_exit=True):
            return await self._run(pillow_codec.render_thumbnail, data, request, self._max_pixels)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:  # noqa: ANN401 - forwarded to the worker untouched
        if self._admitted >= self._capacity:
            raise RenderUnavailable("the image renderer is at capacity", 1.0)
        timeout = remaining(self._max_seconds)
        future = self._submit(function, args, timeout)
        self._admitted += 1
        self._idle.clear()
        self._report()
        # The slot is freed when the work really stops, not when the request gives up.
        loop = asyncio.get_running_loop()
        future.add_done_callback(lambda _done: _call_soon(loop, self._release))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # pebble kills a running worker; a queued one never starts
            raise
        except pillow_codec.CodecRejection as error:
            raise _rejection(error) from None
        except ProcessExpired as error:
            _log.error("render worker died", extra={"exitcode": error.exitcode})
            raise RenderFailed("the image renderer crashed on this image") from None
        except TimeoutError:
            raise RenderUnavailable("the render did not finish within the deadline", 1.0) from None
        except concurrent.futures.CancelledError:
            raise RenderUnavailable("the render was cancelled", 1.0) from None
        except Exception:  # noqa: BLE001 - a codec bug answers a clean 500 problem, logged here
            _log.exception("render worker raised", extra={"task": function.__name__})
            raise RenderFailed("the image renderer failed on this image") from None

    def _submit(
        self, function: Callable[..., T], args: tuple[Any, ...], timeout: float
    ) -> "concurrent.futures.Future[T]":
        if isinstance(self._pool, ProcessPool):
            future: concurrent.futures.Future[T] = self._pool.schedule(
                function, args=args, timeout=timeout
            )
            return future
        return self._pool.submit(function, *args)

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
        if isinstance(self._pool, ProcessPool):
            self._pool.stop()  # type: ignore[no-untyped-call]  # pebble's stop() is unannotated
            self._pool.join(timeout=5)
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)

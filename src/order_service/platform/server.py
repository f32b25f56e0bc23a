"""Runs the ASGI app under uvicorn: uvloop, httptools, N worker processes, graceful drain."""

import signal
from types import FrameType

import uvicorn

from order_service.platform.config import Settings


def run_http_server(settings: Settings, *, app_factory: str) -> None:
    """Serve until SIGTERM; each worker process builds its own app by calling `app_factory`.

    Workers are spawned, not forked from a process holding connections or threads, so every
    pool, key ring and exporter is created inside the worker that uses it.
    """
    # uvicorn drains, then re-raises the SIGTERM it captured under the handler that was in place
    # before it started. Without this, that is the default handler and a clean drain would
    # exit with -15; with it, a drained shutdown exits 0, as orchestrators expect.
    signal.signal(signal.SIGTERM, _exit_after_drain)
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        workers=settings.effective_workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        timeout_keep_alive=5,
        backlog=2048,
    )


def _exit_after_drain(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)

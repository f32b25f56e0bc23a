"""Runs the ASGI app under uvicorn: uvloop, httptools, N worker processes, graceful drain."""

import uvicorn

from order_service.platform.config import Settings


def run_http_server(settings: Settings, *, app_factory: str) -> None:
    """Serve until SIGTERM; each worker process builds its own app by calling `app_factory`.

    Workers are spawned, not forked from a process holding connections or threads, so every
    pool, key ring and exporter is created inside the worker that uses it.
    """
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        workers=settings.workers,
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

"""Drive an ASGI app in-process, lifespan included, without a server."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from order_service.adapters.http.app import HttpApp


@asynccontextmanager
async def started(app: HttpApp) -> AsyncIterator[HttpApp]:
    """Run the app's lifespan start-up, yield it, then its shutdown."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with asyncio.TaskGroup() as group:
        group.create_task(app({"type": "lifespan"}, to_app.get, from_app.put))
        await to_app.put({"type": "lifespan.startup"})
        reply = await from_app.get()
        assert reply["type"] == "lifespan.startup.complete", reply
        try:
            yield app
        finally:
            await to_app.put({"type": "lifespan.shutdown"})
            await from_app.get()


class Reply:
    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


async def call(
    app: HttpApp,
    method: str,
    path: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
) -> Reply:
    """One HTTP request through the ASGI interface."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers or [],
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, end = sent
    return Reply(start["status"], dict(start["headers"]), end["body"])

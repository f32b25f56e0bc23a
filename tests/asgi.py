"""Drive an HttpApp in-process over ASGI: lifespan, requests, client disconnects."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec

from order_service.adapters.http.app import HttpApp

Message = dict[str, Any]


@dataclass
class AsgiResponse:
    status: int
    headers: dict[bytes, bytes]
    body: bytes = b""

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass
class _Lifespan:
    to_app: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    from_app: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)


@asynccontextmanager
async def started(app: HttpApp) -> AsyncIterator[HttpApp]:
    """Run the app's lifespan start-up, yield it, then shut it down."""
    lifespan = _Lifespan()
    async with asyncio.TaskGroup() as group:
        group.create_task(app({"type": "lifespan"}, lifespan.to_app.get, lifespan.from_app.put))
        await lifespan.to_app.put({"type": "lifespan.startup"})
        reply = await lifespan.from_app.get()
        assert reply["type"] == "lifespan.startup.complete", reply
        try:
            yield app
        finally:
            await lifespan.to_app.put({"type": "lifespan.shutdown"})
            assert (await lifespan.from_app.get())["type"] == "lifespan.shutdown.complete"


async def request(
    app: HttpApp,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    disconnect_after: asyncio.Event | None = None,
) -> AsgiResponse | None:
    """One request; with `disconnect_after`, the client goes away once that event is set.

    Returns None when the app sent no response (as after a client disconnect).
    """
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": list(headers),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop()
        if disconnect_after is not None:
            await disconnect_after.wait()
        else:
            await asyncio.Event().wait()  # a client that keeps the connection open
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return None
    start = sent[0]
    return AsgiResponse(
        status=start["status"],
        headers=dict(start["headers"]),
        body=b"".join(m.get("body", b"") for m in sent[1:]),
    )

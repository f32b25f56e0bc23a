"""Drive an HttpApp in-process over ASGI: lifespan, requests, client disconnects.

`request` is the short form; `call` takes a query string and a `receive` of the test's own.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec

from order_service.adapters.http.app import HttpApp

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]


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


@dataclass
class Answer:
    status: int | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""
    messages: list[Message] = field(default_factory=list)

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    @property
    def content_type(self) -> bytes:
        return self.headers.get(b"content-type", b"")


def body_then_wait_forever(body: bytes = b"") -> Receive:
    """The request body, then nothing: the client stays connected."""
    return body_then_disconnect_when(asyncio.Event(), body)  # an event nobody sets


def body_then_disconnect_when(event: asyncio.Event, body: bytes = b"") -> Receive:
    """The request body, then `http.disconnect` as soon as `event` is set."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await event.wait()
        return {"type": "http.disconnect"}

    return receive


async def call(
    app: HttpApp,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    receive: Receive | None = None,
) -> Answer:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
    }
    answer = Answer()

    async def send(message: Message) -> None:
        answer.messages.append(message)
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = dict(message["headers"])
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive or body_then_wait_forever(body), send)
    return answer

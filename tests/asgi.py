"""Drive an ASGI app in-process: its lifespan, and requests whose receive() the test controls."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
App = Callable[
    [dict[str, Any], Receive, Callable[[Message], Awaitable[None]]], Coroutine[Any, Any, None]
]


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    """Start the app as a server would, and shut it down afterwards."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    async with asyncio.TaskGroup() as group:
        group.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
        await inbox.put({"type": "lifespan.startup"})
        started = await outbox.get()
        assert started["type"] == "lifespan.startup.complete", started
        try:
            yield
        finally:
            await inbox.put({"type": "lifespan.shutdown"})
            await outbox.get()


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
    app: App,
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

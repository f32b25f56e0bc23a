"""Behaviour of the HTTP adapter itself, driven in-process over ASGI."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from order_service.adapters.http.app import (
    HttpApp,
    HttpLimits,
    Request,
    Response,
    Route,
    Wiring,
    json_response,
)
from order_service.application.ports import Principal
from order_service.domain.errors import Unauthenticated


class RejectEveryToken:
    def verify(self, token: str) -> Principal:
        del token
        raise Unauthenticated("no token is good enough here")


def upload_app(received: list[bytes]) -> HttpApp:
    async def upload(request: Request) -> Response:
        received.append(request.body)
        return json_response({"ok": True}, 201)

    @asynccontextmanager
    async def wire() -> AsyncIterator[Wiring]:
        yield Wiring(
            routes=[Route("POST", "/upload", upload, "upload", "", "t", authenticated=True)],
            verifier=RejectEveryToken(),
            readiness=[],
            accounts=None,  # type: ignore[arg-type]
        )

    limits = HttpLimits(
        max_body_bytes=1 << 20, max_concurrent_requests=10, default_timeout=10, max_timeout=30
    )
    return HttpApp(wire=wire, limits=limits)


async def test_an_anonymous_upload_is_refused_before_its_body_is_read() -> None:
    from tests.asgi import started  # noqa: PLC0415

    received: list[bytes] = []
    body_requested = asyncio.Event()
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        body_requested.set()
        await asyncio.Event().wait()  # a client still uploading, slowly
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "query_string": b"",
        "headers": [(b"content-length", b"900000")],
        "client": ("127.0.0.1", 1),
    }
    async with started(upload_app(received)) as app:
        await asyncio.wait_for(app(scope, receive, send), timeout=5)

    assert sent[0]["status"] == 401
    assert not body_requested.is_set()
    assert received == []

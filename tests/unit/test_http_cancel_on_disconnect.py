"""Routes that opt in are cancelled when the client disconnects; the others finish their work."""

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
from order_service.domain.errors import Conflict
from tests.asgi import call, request, started
from tests.tasks import other_tasks


class Handlers:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.gate = asyncio.Event()
        self.finished = 0

    async def hang(self, _request: Request) -> Response:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")

    async def gated(self, _request: Request) -> Response:
        self.started.set()
        await self.gate.wait()
        self.finished += 1
        return json_response({"done": True})

    async def conflict(self, _request: Request) -> Response:
        raise Conflict("taken")


def app_with(handlers: Handlers) -> HttpApp:
    @asynccontextmanager
    async def wire() -> AsyncIterator[Wiring]:
        yield Wiring(
            routes=[
                Route("GET", "/hang", handlers.hang, "hang", "", "t", cancel_on_disconnect=True),
                Route("GET", "/gated", handlers.gated, "gated", "", "t"),
                Route(
                    "GET", "/gated-read", handlers.gated, "gr", "", "t", cancel_on_disconnect=True
                ),
                Route(
                    "GET", "/conflict", handlers.conflict, "c", "", "t", cancel_on_disconnect=True
                ),
            ],
            verifier=None,  # type: ignore[arg-type]
            readiness=[],
            accounts=None,  # type: ignore[arg-type]
        )

    limits = HttpLimits(
        max_body_bytes=1024, max_concurrent_requests=10, default_timeout=10.0, max_timeout=30
    )
    return HttpApp(wire=wire, limits=limits)


async def test_an_opted_in_handler_is_cancelled_when_the_client_disconnects() -> None:
    handlers = Handlers()
    async with started(app_with(handlers)) as app:
        before = other_tasks()
        answer = await request(app, "GET", "/hang", disconnect_after=handlers.started)
        assert other_tasks() == before
    assert answer is None
    assert handlers.cancelled.is_set()


async def test_an_opted_in_handler_still_answers_504_at_its_deadline() -> None:
    handlers = Handlers()
    async with started(app_with(handlers)) as app:
        before = other_tasks()
        answer = await request(app, "GET", "/hang", headers=[(b"x-request-timeout", b"0.05")])
        assert other_tasks() == before
    assert answer is not None
    assert answer.status == 504
    assert handlers.cancelled.is_set()


async def test_an_opted_in_handler_answers_normally_and_its_errors_map_to_problems() -> None:
    handlers = Handlers()
    handlers.gate.set()
    async with started(app_with(handlers)) as app:
        ok = await call(app, "GET", "/gated-read")
        conflict = await call(app, "GET", "/conflict")
    assert ok.status == 200
    assert conflict.status == 409
    assert conflict.content_type == b"application/problem+json"


async def test_a_route_that_did_not_opt_in_finishes_its_work_after_a_disconnect() -> None:
    handlers = Handlers()
    async with started(app_with(handlers)) as app, asyncio.TaskGroup() as group:
        gone = asyncio.Event()
        gone.set()  # the client is already gone when the handler starts
        pending = group.create_task(request(app, "GET", "/gated", disconnect_after=gone))
        await handlers.started.wait()
        handlers.gate.set()
    assert handlers.finished == 1
    answer = pending.result()
    assert answer is not None
    assert answer.status == 200

"""Every request has a deadline; a handler that overruns it is cancelled and answered 504."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from order_service.adapters.http.app import (
    HttpApp,
    HttpLimits,
    Request,
    Response,
    Route,
    Wiring,
    json_response,
)
from order_service.application.deadline import remaining
from order_service.platform.deadlines import DeadlineWatchdog
from tests.asgi import request, started


class Handlers:
    def __init__(self) -> None:
        self.cancelled = 0
        self.budgets: list[float] = []

    async def hang(self, _request: Request) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")

    async def budget(self, _request: Request) -> Response:
        self.budgets.append(remaining(cap=3600))
        return json_response({"ok": True})


def app_with(handlers: Handlers, default_timeout: float = 10.0) -> HttpApp:
    @asynccontextmanager
    async def wire() -> AsyncIterator[Wiring]:
        yield Wiring(
            routes=[
                Route("GET", "/hang", handlers.hang, "hang", "", "t"),
                Route("GET", "/budget", handlers.budget, "budget", "", "t", timeout=2.0),
            ],
            verifier=None,  # type: ignore[arg-type]
            readiness=[],
            accounts=None,  # type: ignore[arg-type]
        )

    limits = HttpLimits(
        max_body_bytes=1024,
        max_concurrent_requests=10,
        default_timeout=default_timeout,
        max_timeout=30,
    )
    return HttpApp(wire=wire, limits=limits)


async def test_a_handler_past_its_deadline_is_cancelled_and_answered_504() -> None:
    handlers = Handlers()
    async with started(app_with(handlers)) as app:
        before = asyncio.all_tasks()
        loop = asyncio.get_running_loop()
        began = loop.time()
        response = await request(app, "GET", "/hang", headers=[(b"x-request-timeout", b"0.2")])
        elapsed = loop.time() - began
        leftover = asyncio.all_tasks() - before

    assert response is not None
    assert response.status == 504
    assert response.json()["type"] == "urn:order-service:problem:deadline-exceeded"
    assert handlers.cancelled == 1
    assert 0.2 <= elapsed < 1.0
    assert leftover == set()


async def test_the_route_default_applies_and_a_client_cannot_raise_it_past_the_maximum() -> None:
    handlers = Handlers()
    async with started(app_with(handlers)) as app:
        await request(app, "GET", "/budget")
        await request(app, "GET", "/budget", headers=[(b"x-request-timeout", b"0.5")])
        await request(app, "GET", "/budget", headers=[(b"x-request-timeout", b"999")])

    route_default, asked, capped = handlers.budgets
    assert 1.9 < route_default <= 2.0
    assert 0.4 < asked <= 0.5
    assert 29 < capped <= 30


async def test_an_outer_cancellation_is_not_mistaken_for_a_deadline() -> None:
    handlers = Handlers()
    async with started(app_with(handlers)) as app:
        call = asyncio.ensure_future(request(app, "GET", "/hang"))
        while handlers.cancelled == 0 and not call.done():
            await asyncio.sleep(0)  # let the request start: a yield to the loop, not a timer
            if app._watchdog.watched:
                call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    assert handlers.cancelled == 1


def test_the_watchdog_cancels_only_overdue_tasks() -> None:
    async def scenario() -> tuple[bool, bool, bool, bool]:
        watchdog = DeadlineWatchdog()
        overdue = asyncio.ensure_future(asyncio.Event().wait())
        on_time = asyncio.ensure_future(asyncio.Event().wait())
        watchdog.watch(overdue, at=10.0)
        watchdog.watch(on_time, at=20.0)
        watchdog.expire(now=15.0)
        await asyncio.sleep(0)
        result = (
            overdue.cancelled(),
            on_time.cancelled(),
            watchdog.unwatch(overdue),
            watchdog.unwatch(on_time),
        )
        on_time.cancel()
        return result

    assert asyncio.run(scenario()) == (True, False, True, False)

"""/live, /ready and /openapi.json."""

import asyncio
import time
from collections.abc import Sequence
from functools import cache

import msgspec

from order_service.adapters.http.app import (
    HttpApp,
    ReadinessCheck,
    Request,
    Response,
    Route,
    json_response,
)
from order_service.adapters.http.openapi import openapi_document
from order_service.adapters.http.schemas import CheckOut, LivenessOut, ReadinessOut


async def _run_check(check: ReadinessCheck) -> CheckOut:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout):
            await check.check()
    except TimeoutError:
        error: str | None = f"no answer within {check.timeout:g}s"
    except Exception as failure:  # noqa: BLE001 - any failure of a dependency means "not ready"
        error = f"{type(failure).__name__}: {failure}"[:200]
    else:
        error = None
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    return CheckOut(status="ok" if error is None else "failed", duration_ms=elapsed, error=error)


def probe_routes(
    app: HttpApp, checks: Sequence[ReadinessCheck], *, title: str, version: str
) -> list[Route]:
    @cache
    def document() -> bytes:
        # Built on first request, from the routes actually installed, these included.
        spec = openapi_document(app.router.routes, title=title, version=version)
        return msgspec.json.encode(spec)

    live_body = msgspec.json.encode(LivenessOut(status="alive"))

    async def live(_request: Request) -> Response:
        return Response(200, live_body, [(b"cache-control", b"no-store")])

    async def ready(_request: Request) -> Response:
        if app.draining:
            return json_response(ReadinessOut(status="draining", checks={}), 503)
        async with asyncio.TaskGroup() as group:
            tasks = {check.name: group.create_task(_run_check(check)) for check in checks}
        results = {name: task.result() for name, task in tasks.items()}
        ok = all(result.status == "ok" for result in results.values())
        return json_response(
            ReadinessOut(status="ready" if ok else "unready", checks=results),
            200 if ok else 503,
            [(b"cache-control", b"no-store")],
        )

    async def serve_openapi(_request: Request) -> Response:
        return Response(200, document())

    return [
        Route(
            "GET",
            "/live",
            live,
            "live",
            "The process can make progress",
            "probes",
            responses={200: LivenessOut},
            probe=True,
        ),
        Route(
            "GET",
            "/ready",
            ready,
            "ready",
            "Every dependency answers",
            "probes",
            responses={200: ReadinessOut, 503: ReadinessOut},
            probe=True,
        ),
        Route(
            "GET",
            "/openapi.json",
            serve_openapi,
            "openapi",
            "This document (OpenAPI 3.1)",
            "meta",
            responses={200: None},
        ),
    ]

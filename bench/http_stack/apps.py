"""Three ASGI apps serving the same GET /users/{id} from an in-memory map (ADR 0002).

`raw`: hand-written ASGI, the ceiling. `starlette`: Starlette + orjson. `ours`: the HttpApp
adapter of order-service with one Route, so the difference is the adapter's own cost.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

USERS = {
    str(n): {
        "id": str(n),
        "email": f"user{n}@example.com",
        "name": f"User {n}",
        "roles": ["customer"],
    }
    for n in range(1, 10_001)
}
NOT_FOUND = b'{"title":"Not Found","status":404}'
_encode = msgspec.json.Encoder().encode


async def raw(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    user = USERS.get(scope["path"].rsplit("/", 1)[-1])
    body, status = (_encode(user), 200) if user else (NOT_FOUND, 404)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def get_user(request: Any) -> Response:
        user = USERS.get(request.path_params["id"])
        if user is None:
            return Response(NOT_FOUND, 404, media_type="application/json")
        return Response(_encode(user), media_type="application/json")

    return Starlette(routes=[Route("/users/{id}", get_user)])


def ours() -> Any:
    from order_service.adapters.http.app import (
        HttpApp,
        HttpLimits,
        Request,
        Response,
        Route,
        Wiring,
        json_response,
    )
    from order_service.adapters.http.problems import HttpProblem

    async def get_user(request: Request) -> Response:
        user = USERS.get(request.path_params["id"])
        if user is None:
            raise HttpProblem(404, "not-found")
        return json_response(user)

    @asynccontextmanager
    async def wire() -> AsyncIterator[Wiring]:
        route = Route("GET", "/users/{id}", get_user, "getUser", "", "users")
        yield Wiring(routes=[route], verifier=None, readiness=[], accounts=None)  # type: ignore[arg-type]

    return HttpApp(
        wire=wire,
        limits=HttpLimits(
            max_body_bytes=1 << 20, max_concurrent_requests=1024, default_timeout=10, max_timeout=60
        ),
    )


def app() -> Any:
    stack = os.environ["STACK"]
    return raw if stack == "raw" else starlette() if stack == "starlette" else ours()

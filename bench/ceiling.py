"""The ceiling: a bare ASGI app answering GET /v1/users/{id} with the same JSON, from memory.

No routing framework, no auth, no store: what uvicorn (uvloop + httptools) and one JSON encode
cost per request on this core. Nothing real can be faster on the same server, so the service
is reported as a fraction of it. Users come from the file the harness seeds (BENCH_USERS_JSON).
"""

import os
from pathlib import Path
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode
_PREFIX = "/v1/users/"
_JSON = [(b"content-type", b"application/json")]
_NOT_FOUND = b'{"title":"user not found","status":404}'

Scope = dict[str, Any]


class CeilingApp:
    def __init__(self, users: dict[str, dict[str, Any]]) -> None:
        self._users = users

    async def __call__(self, scope: Scope, _receive: Any, send: Any) -> None:  # noqa: ANN401 - raw ASGI
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        user = self._users.get(path[len(_PREFIX) :]) if path.startswith(_PREFIX) else None
        status, body = (200, _encode(user)) if user is not None else (404, _NOT_FOUND)
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})


def create_app() -> CeilingApp:
    """uvicorn's factory: `uvicorn --factory bench.ceiling:create_app`."""
    rows = msgspec.json.decode(Path(os.environ["BENCH_USERS_JSON"]).read_bytes())
    return CeilingApp({row["id"]: row for row in rows})

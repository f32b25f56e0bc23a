"""A thin ASGI application: routing, body limits, JSON validation, auth, deadlines, problems.

Thin on purpose (docs/adr/0002-http-stack.md): the hot path is one dict lookup or a few regex
matches, one msgspec decode and one encode, so the service keeps most of the raw-ASGI ceiling.
"""

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import msgspec

from order_service.adapters.http.observability import EdgeTelemetry
from order_service.adapters.http.problems import (
    PROBLEM_CONTENT_TYPE,
    HttpProblem,
    problem_from_domain,
    validation_problem,
)
from order_service.application.accounts import Accounts
from order_service.application.deadline import reset_deadline, set_deadline
from order_service.application.ports import Principal, TokenVerifier
from order_service.domain.errors import DomainError
from order_service.platform.deadlines import DeadlineWatchdog
from order_service.platform.lifecycle import on_termination
from order_service.platform.metrics import PoolSampler
from order_service.platform.tracing import Tracing

_log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
_encode = msgspec.json.Encoder().encode
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PARAM = re.compile(r"{([a-z_]+)}")


class Request:
    """What a handler sees of an HTTP request."""

    __slots__ = (
        "body",
        "body_size",
        "client",
        "headers",
        "method",
        "path",
        "path_params",
        "payload",
        "principal",
        "query_string",
    )

    def __init__(self, scope: Scope, path_params: dict[str, str]) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.query_string: bytes = scope["query_string"]
        client = scope.get("client")
        self.client: str = client[0] if client else "unknown"
        self.path_params = path_params
        self.payload: Any = None
        self.body = b""  # the raw body of a POST, PUT or PATCH
        self.principal: Principal | None = None
        self.body_size = 0

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header; `name` is lower-case."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True)

    @property
    def authenticated(self) -> Principal:
        """The caller of a route declared `authenticated=True`; always set for those routes."""
        if self.principal is None:
            raise HttpProblem(401, "unauthenticated", "an access token is required")
        return self.principal


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes = JSON,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = [(b"content-type", content_type), *(headers or ())]


def json_response(
    value: object, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    return Response(status, _encode(value), headers)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Parameter:
    """A query-string or header parameter, for the OpenAPI document; the handler reads it."""

    name: str
    description: str
    schema: Mapping[str, object]
    required: bool = False


QueryParameter = Parameter
HeaderParameter = Parameter


@dataclass(frozen=True, slots=True)
class Route:
    """One operation; the same declaration drives dispatch, validation and the OpenAPI document."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    body: type | None = None
    responses: Mapping[int, type | None] = field(default_factory=lambda: {200: None})
    problems: tuple[int, ...] = ()
    authenticated: bool = False
    timeout: float | None = None
    probe: bool = False  # health checks: exempt from load shedding and left out of the API docs
    # Reads only: cancel the handler when the client disconnects (writes should finish instead).
    cancel_on_disconnect: bool = False
    content_type: str = "application/json"
    max_body_bytes: int | None = None  # this route's own body limit (image uploads), else the app's
    query: tuple[QueryParameter, ...] = ()
    headers: tuple[HeaderParameter, ...] = ()  # request headers the handler reads (documented)

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)


class Router:
    """Exact paths through one dict lookup; templated paths through one regex each."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._static: dict[str, dict[str, Route]] = {}
        templated: dict[str, dict[str, Route]] = {}
        for route in routes:
            table = templated if "{" in route.path else self._static
            methods = table.setdefault(route.path, {})
            if route.method in methods:
                raise ValueError(f"duplicate route {route.method} {route.path}")
            methods[route.method] = route
        # Templates with fewer parameters first, so /v1/users/me wins over /v1/users/{id}.
        self._templated = [
            (re.compile("^" + _PARAM.sub(r"(?P<\1>[^/]+)", path) + "$"), methods)
            for path, methods in sorted(templated.items(), key=lambda kv: kv[0].count("{"))
        ]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        methods = self._static.get(path)
        params: dict[str, str] = {}
        if methods is None:
            for pattern, candidate in self._templated:
                found = pattern.match(path)
                if found:
                    methods, params = candidate, found.groupdict()
                    break
            else:
                raise HttpProblem(404, "no-such-route", f"no route for {path}")
        route = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
        if route is None:
            allow = ", ".join(sorted(methods)).encode()
            raise HttpProblem(
                405,
                "method-not-allowed",
                f"{method} is not allowed here",
                headers=[(b"allow", allow)],
            )
        return route, params


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """One dependency that must answer within `timeout` for the service to take traffic."""

    name: str
    check: Callable[[], Awaitable[None]]
    timeout: float = 1.0


@dataclass(frozen=True, slots=True)
class Wiring:
    """What the composition root hands the HTTP adapter once start-up I/O has been done."""

    routes: Sequence[Route]
    verifier: TokenVerifier
    readiness: Sequence[ReadinessCheck]
    accounts: Accounts
    # Long-running jobs of this process (e.g. an in-process dispatcher), owned by the lifespan.
    background: Sequence[Callable[[], Coroutine[object, object, None]]] = ()
    tracing: Tracing | None = None  # None when tracing is off
    db_pools: Mapping[str, PoolSampler] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_body_bytes: int
    max_concurrent_requests: int
    default_timeout: float
    max_timeout: float


class HttpApp:
    """The ASGI callable. Routes are installed at lifespan start-up, after the wiring is built."""

    def __init__(
        self,
        *,
        wire: Callable[[], AbstractAsyncContextManager[Wiring]],
        limits: HttpLimits,
        extra_routes: Callable[["HttpApp", Wiring], Sequence[Route]] = lambda _app, _w: (),
        telemetry: EdgeTelemetry | None = None,
    ) -> None:
        self._wire = wire
        self.telemetry = telemetry or EdgeTelemetry(metrics=None, log_sample_rate=0.0)
        self._limits = limits
        self._extra_routes = extra_routes
        self._router = Router(())
        self._verifier: TokenVerifier | None = None
        self._in_flight = 0
        self._watchdog = DeadlineWatchdog()
        self.draining = False

    @property
    def router(self) -> Router:
        return self._router

    def _start_draining(self) -> None:
        self.draining = True
        _log.info("shutdown requested: readiness is now false, draining in-flight requests")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                wiring = await stack.enter_async_context(self._wire())
                routes = [*wiring.routes, *self._extra_routes(self, wiring)]
                self._router = Router(routes)
                self._verifier = wiring.verifier
                self.telemetry.tracing = wiring.tracing
                if self.telemetry.metrics is not None:
                    await stack.enter_async_context(
                        self.telemetry.metrics.running(
                            pools=dict(wiring.db_pools), in_flight=lambda: self._in_flight
                        )
                    )
            except Exception as error:  # noqa: BLE001 - reported to the server, which exits
                _log.exception("start-up failed")
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                return
            stack.enter_context(on_termination(self._start_draining))
            # The app's own tasks (the deadline watchdog, the wiring's background jobs) live in
            # this group: they start with the app and are cancelled when it shuts down.
            async with asyncio.TaskGroup() as background:
                jobs = [background.create_task(self._watchdog.run(), name="deadline-watchdog")]
                jobs += [
                    background.create_task(job(), name=getattr(job, "__name__", "background"))
                    for job in wiring.background
                ]
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown: the server has drained connections
                self.draining = True
                for job_task in jobs:
                    job_task.cancel()
        await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Observability wraps every request here, once: routes never instrument themselves.
        route: Route | None = None
        request: Request | None = None
        try:
            route, params = self._router.match(scope["method"], scope["path"])
        except HttpProblem as problem:
            unrouted: HttpProblem | None = problem
        else:
            unrouted = None
        observation = self.telemetry.begin(
            scope,
            route.path if route is not None else None,
            probe=route is not None and route.probe,
        )
        status = 500
        bytes_out = 0
        try:
            if route is None:
                assert unrouted is not None  # noqa: S101 - match() either routes or raises
                response = _problem_response(unrouted, scope["path"])
            else:
                request = Request(scope, params)
                try:
                    response = await self._respond(route, request, receive)
                except ClientDisconnected:
                    # Nobody to answer; counted and logged as nginx's 499 "client closed request".
                    status = 499
                    _log.info("client disconnected; request cancelled", extra={"route": route.path})
                    return
            status = response.status
            bytes_out = len(response.body)
            response.headers.append((b"x-request-id", observation.request_id.encode()))
            await _send(send, response, head=scope["method"] == "HEAD")
        finally:
            self.telemetry.end(
                observation,
                status,
                bytes_in=request.body_size if request is not None else 0,
                bytes_out=bytes_out,
            )

    async def _respond(self, route: Route, request: Request, receive: Receive) -> Response:
        if not route.probe and self._in_flight >= self._limits.max_concurrent_requests:
            return _problem_response(
                HttpProblem(
                    503,
                    "overloaded",
                    "the service is at capacity",
                    headers=[(b"retry-after", b"1")],
                ),
                request.path,
            )
        self._in_flight += 1
        try:
            return await self._dispatch(route, request, receive)
        except HttpProblem as problem:
            return _problem_response(problem, request.path)
        finally:
            self._in_flight -= 1

    async def _dispatch(self, route: Route, request: Request, receive: Receive) -> Response:
        budget = self._budget(request, route)
        # Authenticate before reading the body, so an anonymous client cannot make us take in
        # a large upload only to be told 401.
        if route.authenticated:
            request.principal = self._authenticate(request)
        if route.body is not None or request.method in _BODY_METHODS:
            raw = await self._read_body(request, receive, route.max_body_bytes)
            request.body = raw
            if route.body is not None:
                request.payload = _decode(request, raw, route.body)
        task: asyncio.Task[object] | None = asyncio.current_task()
        assert task is not None  # noqa: S101 - ASGI servers run each request in a task
        at = time.monotonic() + budget
        deadline = set_deadline(at)
        self._watchdog.watch(task, at)
        try:
            if route.cancel_on_disconnect:
                return await _cancel_on_disconnect(route.handler(request), receive)
            return await route.handler(request)
        except DomainError as error:
            raise problem_from_domain(error) from None
        except asyncio.CancelledError:
            if self._watchdog.unwatch(task):
                raise HttpProblem(
                    504, "deadline-exceeded", f"the request did not finish within {budget:g}s"
                ) from None
            raise
        except (HttpProblem, ClientDisconnected):
            raise
        except Exception:  # noqa: BLE001 - a bug answers 500 without leaking its trace
            _log.exception("unhandled error", extra={"route": route.path, "method": route.method})
            raise HttpProblem(500, "internal", "an unexpected error occurred") from None
        finally:
            self._watchdog.unwatch(task)
            reset_deadline(deadline)

    def _budget(self, request: Request, route: Route) -> float:
        default = route.timeout or self._limits.default_timeout
        raw = request.header(b"x-request-timeout")
        if raw is None:
            return default
        try:
            asked = float(raw)
        except ValueError:
            raise HttpProblem(400, "bad-timeout", "X-Request-Timeout must be seconds") from None
        if not asked > 0:  # also rejects NaN
            raise HttpProblem(504, "deadline-exceeded", "the request's deadline has passed")
        return min(asked, self._limits.max_timeout)

    async def _read_body(
        self, request: Request, receive: Receive, route_limit: int | None = None
    ) -> bytes:
        limit = route_limit or self._limits.max_body_bytes
        declared = request.header(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HttpProblem(413, "body-too-large", f"the body must be at most {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HttpProblem(400, "client-disconnected", "the client went away")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            request.body_size = size
            if size > limit:
                raise HttpProblem(413, "body-too-large", f"the body must be at most {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _authenticate(self, request: Request) -> Principal:
        header = request.header(b"authorization")
        if header is None:
            raise HttpProblem(
                401,
                "unauthenticated",
                "an access token is required",
                headers=[(b"www-authenticate", b"Bearer")],
            )
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpProblem(
                401,
                "unauthenticated",
                "use the Bearer scheme",
                headers=[(b"www-authenticate", b"Bearer")],
            )
        assert self._verifier is not None  # noqa: S101 - set at start-up, before any request
        try:
            return self._verifier.verify(token.strip())
        except DomainError as error:
            raise problem_from_domain(error) from None


class ClientDisconnected(Exception):
    """The client went away before the response was ready; there is no one to answer."""


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _capture(work: Awaitable[Response]) -> Response | Exception:
    try:
        return await work
    except Exception as error:  # noqa: BLE001 - re-raised by the caller, outside the TaskGroup
        return error


async def _cancel_on_disconnect(work: Awaitable[Response], receive: Receive) -> Response:
    """Run the handler while watching the connection; whichever ends first cancels the other.

    Both are tasks of one TaskGroup, so neither outlives the request. The handler's own
    exceptions are carried out of the group unwrapped, for the usual problem mapping.
    """
    async with asyncio.TaskGroup() as group:
        handler = group.create_task(_capture(work))
        watcher = group.create_task(_until_disconnected(receive))
        handler.add_done_callback(lambda _: watcher.cancel())
        watcher.add_done_callback(lambda _: handler.cancel())
    if handler.cancelled():
        raise ClientDisconnected
    outcome = handler.result()
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _decode(request: Request, raw: bytes, schema: type) -> Any:  # noqa: ANN401 - any Struct
    content_type = (request.header(b"content-type") or b"").split(b";", 1)[0].strip().lower()
    if content_type != JSON and not content_type.endswith(b"+json"):
        raise HttpProblem(415, "unsupported-media-type", "send the body as application/json")
    try:
        return msgspec.json.decode(raw, type=schema)
    except msgspec.DecodeError as error:
        raise validation_problem(error) from None


async def _send(send: Send, response: Response, *, head: bool = False) -> None:
    headers = response.headers
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


def _problem_response(problem: HttpProblem, path: str) -> Response:
    body = _encode(problem.body(path))
    return Response(problem.status, body, problem.headers, PROBLEM_CONTENT_TYPE)

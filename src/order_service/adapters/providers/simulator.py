"""A fulfilment provider simulator: a real HTTP (ASGI) server that behaves like a provider.

It serves any number of providers by name (`POST /providers/{name}/orders`), each with its
own declared rate limit. Above the limit it answers 429 with Retry-After and counts a
violation. It dedupes by Idempotency-Key per provider (a redelivery is answered with the
original reference and counted), and counts a duplicate effect when one key is applied by two
providers. Latency, errors (500, not applied), timeouts (applied, then no answer in time) and
an outage (503) are configurable, also at run time with `PUT /faults`. `GET /stats` returns
the counters, which tests and the benchmark read.
"""

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from order_service.domain.resilience import gcra_reserve

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_MAX_BODY = 65_536


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    rate_per_second: float | None = 50.0  # None: no limit
    burst: int = 10
    latency_min_ms: float = 5.0
    latency_max_ms: float = 20.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_seconds: float = 30.0
    down: bool = False

    def updated(self, changes: dict[str, Any]) -> "SimulatorConfig":
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        return replace(self, **changes)


@dataclass
class ProviderCounters:
    received: int = 0
    applied: int = 0
    redeliveries: int = 0
    rate_limit_violations: int = 0
    worst_violation_ms: float = 0.0  # how early the earliest violating request came
    errors: int = 0
    timeouts: int = 0
    refused: int = 0
    first_applied_at: float | None = None
    last_applied_at: float | None = None


@dataclass
class _ProviderState:
    counters: ProviderCounters = field(default_factory=ProviderCounters)
    tat: float | None = None
    references: dict[str, str] = field(default_factory=dict)


class ProviderSimulator:
    """The ASGI app. One instance keeps its state in memory for its lifetime."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._random = random.Random(seed)  # noqa: S311 - simulated faults, not security
        self._clock = clock
        self._providers: dict[str, _ProviderState] = {}
        self._applied_by: dict[str, str] = {}
        self.duplicate_effects = 0

    def stats(self) -> dict[str, Any]:
        providers = {name: asdict(state.counters) for name, state in self._providers.items()}
        total = {
            key: sum(p[key] for p in providers.values())
            for key in ("received", "applied", "redeliveries", "rate_limit_violations")
        }
        return {
            "providers": providers,
            "total": total,
            "duplicate_effects": self.duplicate_effects,
            "config": asdict(self.config),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        parts = path.strip("/").split("/")
        if (
            method == "POST"
            and len(parts) == 3
            and parts[0] == "providers"
            and parts[2] == "orders"
        ):
            status, body, headers = await self._order(parts[1], scope, receive)
        elif method == "GET" and path == "/stats":
            status, body, headers = 200, self.stats(), []
        elif method == "PUT" and path == "/faults":
            status, body, headers = await self._faults(receive)
        else:
            status, body, headers = 404, {"error": "no such route"}, []
        await _respond(send, status, body, headers)

    async def _faults(self, receive: Receive) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        try:
            self.config = self.config.updated(json.loads(await _body(receive)))
        except (ValueError, TypeError) as error:
            return 400, {"error": str(error)}, []
        return 200, asdict(self.config), []

    async def _order(
        self, name: str, scope: Scope, receive: Receive
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        state = self._providers.setdefault(name, _ProviderState())
        counters = state.counters
        counters.received += 1
        config = self.config
        if config.down:
            counters.refused += 1
            return 503, {"error": "provider down"}, [(b"retry-after", b"1")]
        if config.rate_per_second is not None:
            slot = gcra_reserve(
                state.tat,
                self._clock(),
                rate=config.rate_per_second,
                burst=config.burst,
                max_wait=0.0,
            )
            if slot.tat is None:
                counters.rate_limit_violations += 1
                counters.worst_violation_ms = max(counters.worst_violation_ms, slot.wait * 1000)
                retry_after = str(max(1, round(slot.wait + 0.5))).encode()
                return 429, {"error": "rate limit exceeded"}, [(b"retry-after", retry_after)]
            state.tat = slot.tat
        key = dict(scope["headers"]).get(b"idempotency-key", b"").decode("latin-1")
        body = await _body(receive)
        if not key:
            return 400, {"error": "Idempotency-Key is required"}, []
        try:
            json.loads(body)
        except ValueError:
            return 400, {"error": "the body must be JSON"}, []
        latency = self._random.uniform(config.latency_min_ms, config.latency_max_ms) / 1000
        await asyncio.sleep(latency)
        if self._random.random() < config.error_rate:
            counters.errors += 1
            return 500, {"error": "simulated failure"}, []
        reference = state.references.get(key)
        if reference is not None:
            counters.redeliveries += 1
            return 200, {"reference": reference, "replayed": True}, []
        reference = f"{name}-{counters.applied + 1}"
        state.references[key] = reference
        counters.applied += 1
        now = self._clock()
        counters.first_applied_at = counters.first_applied_at or now
        counters.last_applied_at = now
        first_provider = self._applied_by.setdefault(key, name)
        if first_provider != name:
            self.duplicate_effects += 1
        if self._random.random() < config.timeout_rate:
            counters.timeouts += 1
            await asyncio.sleep(config.hang_seconds)  # applied, but the answer comes too late
        return 201, {"reference": reference}, []


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise ValueError("body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:  # noqa: ANN401 - any JSON
    encoded = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(encoded)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": encoded})


def run_simulator(config: SimulatorConfig, *, host: str, port: int, seed: int | None) -> None:
    """Serve the simulator until SIGTERM (one process: its counters live in memory)."""
    import uvicorn  # noqa: PLC0415 - only the provider-sim command needs the server

    uvicorn.run(
        ProviderSimulator(config, seed=seed),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=1,
        backlog=2048,
    )

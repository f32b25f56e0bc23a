"""An HttpApp serving the search and product routes over fakes, with a token verifier stub."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from order_service.adapters.http.app import HttpApp, HttpLimits, Wiring
from order_service.adapters.http.products_api import product_routes
from order_service.adapters.http.search_api import search_routes
from order_service.adapters.memory.failure_throttle import InProcessFailureThrottle
from order_service.adapters.telemetry.search_telemetry import (
    PrometheusSearchTelemetry,
    search_metrics,
)
from order_service.application.accounts import Accounts
from order_service.application.ports import IssuedToken, Principal
from order_service.application.products import Catalogue
from order_service.application.search import SearchEverywhere, SearchIndex, SearchIndexer
from order_service.domain.errors import Unauthenticated
from order_service.domain.search import IndexName
from order_service.domain.users import Role
from tests.asgi import Answer, body_then_disconnect_when, call
from tests.fakes.images import InMemoryImageRepository
from tests.fakes.search import InMemoryProductRepository
from tests.fakes.users import FakeClock, FakePasswordHasher, InMemoryUserRepository

ADMIN = Principal(subject=uuid.uuid4(), roles=frozenset({Role.ADMIN, Role.CUSTOMER}))
CUSTOMER = Principal(subject=uuid.uuid4(), roles=frozenset({Role.CUSTOMER}))
AS_ADMIN = {"authorization": "Bearer admin"}
AS_CUSTOMER = {"authorization": "Bearer customer"}


class StubTokens:
    def verify(self, token: str) -> Principal:
        principals = {"admin": ADMIN, "customer": CUSTOMER}
        if token not in principals:
            raise Unauthenticated("unknown token")
        return principals[token]

    def issue(self, principal: Principal) -> IssuedToken:
        return IssuedToken(access_token=str(principal.subject), expires_in=60)


def search_app(
    indices: Mapping[IndexName, SearchIndex],
    *,
    indexer: SearchIndexer,
    registry: CollectorRegistry,
    index_timeout: float = 30.0,
    route_timeout: float = 30.0,
) -> HttpApp:
    tokens = StubTokens()
    search = SearchEverywhere(
        indices=indices,
        index_timeout=index_timeout,
        observer=PrometheusSearchTelemetry(search_metrics(registry)),
    )
    catalogue = Catalogue(
        products=InMemoryProductRepository(),
        images=InMemoryImageRepository(),
        indexer=indexer,
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    accounts = Accounts(
        users=InMemoryUserRepository(),
        hasher=FakePasswordHasher(),
        tokens=tokens,
        throttle=InProcessFailureThrottle(window_seconds=60),
        clock=FakeClock(),
        max_failures_per_email=5,
        max_failures_per_client=50,
        indexer=indexer,
    )

    @asynccontextmanager
    async def wire() -> AsyncIterator[Wiring]:
        yield Wiring(
            routes=[
                *search_routes(search, timeout=route_timeout),
                *product_routes(catalogue),
            ],
            verifier=tokens,
            readiness=[],
            accounts=accounts,
        )

    limits = HttpLimits(
        max_body_bytes=65536, max_concurrent_requests=10_000, default_timeout=10, max_timeout=60
    )
    return HttpApp(wire=wire, limits=limits)


async def search_and_hang_up(app: HttpApp, *, once: Callable[[], Awaitable[None]]) -> Answer:
    """An admin's search whose client disconnects as soon as `once()` returns."""
    hang_up = asyncio.Event()

    async def signal() -> None:
        await once()
        hang_up.set()

    async with asyncio.TaskGroup() as group:
        group.create_task(signal())
        return await call(
            app,
            "GET",
            "/v1/search",
            query="q=ada",
            headers=AS_ADMIN,
            receive=body_then_disconnect_when(hang_up),
        )

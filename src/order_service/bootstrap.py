"""The composition root: the one place that reads settings and wires adapters into use cases.

Read top to bottom, `wire()` is the whole dependency graph; its exit stack closes everything
in reverse order on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite

from order_service import __version__
from order_service.adapters.blobs.filesystem import FilesystemBlobStore
from order_service.adapters.crypto.argon2_hasher import Argon2PasswordHasher
from order_service.adapters.crypto.jwt_tokens import JwtTokens, KeyRing
from order_service.adapters.dispatch_metrics import PrometheusDispatchObserver, limiter_fallback
from order_service.adapters.http.app import HttpApp, HttpLimits, ReadinessCheck, Route, Wiring
from order_service.adapters.http.auth_api import auth_routes
from order_service.adapters.http.images_api import image_routes
from order_service.adapters.http.observability import EdgeTelemetry
from order_service.adapters.http.observability_routes import metrics_routes
from order_service.adapters.http.orders_api import order_routes
from order_service.adapters.http.probes import probe_routes
from order_service.adapters.http.products_api import product_routes
from order_service.adapters.http.search_api import search_routes
from order_service.adapters.images.blob_repository import BlobImageRepository
from order_service.adapters.images.metrics import default_image_metrics
from order_service.adapters.images.render_pool import PoolImageCodec
from order_service.adapters.images.tracing import TracedBlobStore
from order_service.adapters.memory.cached_user_repository import InProcessCachedUserRepository
from order_service.adapters.memory.failure_throttle import InProcessFailureThrottle
from order_service.adapters.memory.rate_limiter import InProcessRateLimiter
from order_service.adapters.sqlite.database import open_sqlite, ping_sqlite, sqlite_path
from order_service.adapters.sqlite.order_outbox import SqliteOrderOutbox
from order_service.adapters.sqlite.order_repository import SqliteOrderDb, SqliteOrderRepository
from order_service.adapters.sqlite.product_repository import SqliteProductRepository
from order_service.adapters.sqlite.search_index import SqliteSearchIndex, SqliteSearchIndexer
from order_service.adapters.sqlite.user_repository import SqliteUserRepository
from order_service.adapters.telemetry.search_telemetry import (
    PrometheusSearchTelemetry,
    search_metrics,
)
from order_service.application.accounts import Accounts
from order_service.application.dispatch import Dispatcher, DispatchPolicy
from order_service.application.images import BlobStore, ByteBudgetCache, ImageRepository, Images
from order_service.application.order_ports import OrderOutbox, OrderRepository, RateLimiter
from order_service.application.orders import Orders
from order_service.application.ports import FailureThrottle, UserRepository
from order_service.application.products import Catalogue, ProductRepository
from order_service.application.search import SearchEverywhere, SearchIndex, SearchIndexer
from order_service.domain.images import ThumbnailLimits
from order_service.domain.providers import Provider
from order_service.domain.search import IndexName
from order_service.platform.config import Settings, load_settings
from order_service.platform.gc_tuning import freeze_when_warm, tune_gc
from order_service.platform.logging import configure_logging
from order_service.platform.metrics import Metrics, PoolStats
from order_service.platform.tracing import SpanKind, Tracer, trace_methods, tracing

if TYPE_CHECKING:
    from typing import TypeAlias

    import asyncpg
    import httpx
    from redis.asyncio import Redis

    from order_service.adapters.redis.user_changes import RedisUserChanges

    Database: TypeAlias = aiosqlite.Connection | asyncpg.Pool

# Drivers and clients of the production parts (asyncpg, redis, obstore) are imported where
# their setting selects them, not above: the embedded default never loads them, which keeps
# its start-up short (docs/performance.md, "Start-up"). httpx too is imported only where a
# dispatcher is opened: API replicas with ORDER_SERVICE_DISPATCH_IN_SERVE=false never load it.

APP_FACTORY = "order_service.bootstrap:create_app"


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app() -> HttpApp:
    """uvicorn's factory, called once in every worker process."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return build_http_app(settings)


def build_http_app(settings: Settings) -> HttpApp:
    limits = HttpLimits(
        max_body_bytes=settings.max_body_bytes,
        max_concurrent_requests=settings.max_concurrent_requests,
        default_timeout=settings.request_timeout_seconds,
        max_timeout=settings.max_request_timeout_seconds,
    )

    metrics = Metrics(version=__version__) if settings.metrics_enabled else None
    telemetry = EdgeTelemetry(
        metrics=metrics,
        log_sample_rate=settings.log_sample_rate,
        slow_request_seconds=settings.slow_request_seconds,
    )

    def probes(app: HttpApp, wiring: Wiring) -> list[Route]:
        routes = probe_routes(app, wiring.readiness, title="order-service", version=__version__)
        return routes if metrics is None else [*routes, *metrics_routes(metrics)]

    return HttpApp(
        wire=lambda: wire(settings, dispatch=settings.dispatch_in_serve),
        limits=limits,
        extra_routes=probes,
        telemetry=telemetry,
    )


def load_key_ring(settings: Settings) -> KeyRing:
    if settings.jwt_private_keys is not None:
        return KeyRing.from_pem_bundle(settings.jwt_private_keys.get_secret_value())
    # Only the embedded default's own directory is filled automatically; an operator's
    # directory that is empty is a mistake to report, not to paper over.
    return KeyRing.from_directory(
        settings.effective_jwt_keys_dir, create_if_empty=settings.jwt_keys_dir is None
    )


@asynccontextmanager
async def wire(settings: Settings, *, dispatch: bool = False) -> AsyncIterator[Wiring]:
    """Everything the HTTP app needs; with `dispatch`, also a dispatcher running in-process
    (stopped, and its in-flight deliveries finished, when the app shuts down)."""
    async with AsyncExitStack() as stack:
        # First in, last out: spans of the shutdown itself are still exported.
        traces = stack.enter_context(tracing(service_version=__version__))
        tracer = traces.tracer if traces is not None else None
        readiness: list[ReadinessCheck] = []
        database = await _open_database(settings, stack, readiness)
        users = await _cached_user_store(
            settings, stack, _user_repository(database, settings, tracer)
        )
        products, indexer, indices = _search_store(database, settings)
        throttle = await _open_failure_throttle(settings, stack, readiness)
        hasher = Argon2PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.password_hash_concurrency,
            queue=settings.password_hash_queue,
        )
        stack.callback(hasher.close)
        keys = load_key_ring(settings)
        tokens = JwtTokens(
            keys=keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl_seconds,
            clock=utc_now,
            cache_size=settings.token_cache_size,
        )
        accounts = Accounts(
            users=users,
            hasher=hasher,
            tokens=tokens,
            throttle=throttle,
            clock=utc_now,
            max_failures_per_email=settings.login_max_failures_per_email,
            max_failures_per_client=settings.login_max_failures_per_client,
            indexer=indexer,
        )
        # One image repository for both, so a product can name a photo uploaded a moment ago.
        blobs = _open_blob_store(settings)
        image_repository = BlobImageRepository(blobs)
        catalogue = Catalogue(
            products=products, images=image_repository, indexer=indexer, clock=utc_now
        )
        search = SearchEverywhere(
            indices=indices,
            index_timeout=settings.search_index_timeout_seconds,
            observer=PrometheusSearchTelemetry(search_metrics()),
        )
        order_store, outbox = await _open_order_store(settings, stack, database)
        orders = Orders(orders=order_store, clock=utc_now)
        on_accepted = _no_op
        if dispatch:
            dispatcher = await _open_dispatcher(settings, stack, outbox, traced=traces is not None)
            group = await stack.enter_async_context(asyncio.TaskGroup())
            group.create_task(dispatcher.run(grace_seconds=settings.shutdown_grace_seconds))
            stack.callback(dispatcher.stop)  # runs first on exit: the group then waits for it
            on_accepted = dispatcher.nudge
        images = _build_images(settings, stack, blobs, image_repository)
        if tracer is not None:
            trace_methods(accounts, tracer, "Accounts")
            trace_methods(catalogue, tracer, "Catalogue")
            trace_methods(search, tracer, "SearchEverywhere")
            trace_methods(images, tracer, "Images")
            trace_methods(orders, tracer, "Orders")
        wiring = Wiring(
            routes=[
                *auth_routes(accounts, keys),
                *order_routes(orders, on_accepted=on_accepted),
                *image_routes(images, max_upload_bytes=settings.images_max_upload_bytes),
                *product_routes(catalogue),
                *search_routes(search, timeout=settings.search_timeout_seconds),
            ],
            verifier=tokens,
            readiness=readiness,
            accounts=accounts,
            tracing=traces,
            db_pools=_pool_stats(database),
            background=_gc_jobs(settings),
        )
        # Last, once everything long-lived exists: see platform/gc_tuning.py.
        tune_gc(freeze=settings.gc_freeze, gen0_threshold=settings.gc_gen0_threshold)
        yield wiring


def _gc_jobs(settings: Settings) -> list[Callable[[], Coroutine[object, object, None]]]:
    if not settings.gc_freeze or settings.gc_warm_freeze_seconds <= 0:
        return []

    async def freeze_gc_when_warm() -> None:
        await freeze_when_warm(settings.gc_warm_freeze_seconds)

    return [freeze_gc_when_warm]


async def _cached_user_store(
    settings: Settings, stack: AsyncExitStack, store: UserRepository
) -> UserRepository:
    """Reads by id from memory, then Redis (shared by every replica), then the store. With
    both, saves are announced over Redis so every process drops its copy at once."""
    users = store
    changes: RedisUserChanges | None = None
    if settings.redis_url is not None:
        from order_service.adapters.redis.cached_user_repository import (  # noqa: PLC0415
            RedisCachedUserRepository,
        )
        from order_service.adapters.redis.user_changes import (  # noqa: PLC0415
            RedisUserChanges,
        )

        # A cache that retries makes an outage slower than having no cache.
        redis = _redis_client(settings.redis_url, settings, stack, retries=False)
        changes = RedisUserChanges(redis, _redis_subscriber(settings.redis_url, stack))
        users = RedisCachedUserRepository(
            users,
            redis,
            ttl_seconds=settings.user_cache_redis_ttl_seconds,
            announce=changes.publish,
        )
    if settings.user_cache_size == 0:
        return users
    local = InProcessCachedUserRepository(
        users, max_entries=settings.user_cache_size, ttl_seconds=settings.user_cache_ttl_seconds
    )
    if changes is not None:
        group = await stack.enter_async_context(asyncio.TaskGroup())
        follower = group.create_task(changes.follow(local.forget, local.forget_all))
        stack.callback(follower.cancel)  # runs first on exit: the group then waits for it
    return local


def _redis_client(
    url: str, settings: Settings, stack: AsyncExitStack, *, retries: bool = True
) -> Redis:
    from redis.asyncio import Redis  # noqa: PLC0415 - only when Redis is configured
    from redis.asyncio.retry import Retry  # noqa: PLC0415
    from redis.backoff import NoBackoff  # noqa: PLC0415

    timeout = settings.redis_timeout_seconds
    if retries:
        redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    else:
        redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
    stack.push_async_callback(redis.aclose)
    return redis


def _redis_subscriber(url: str, stack: AsyncExitStack) -> Redis:
    """A client for a long-lived subscription: no read timeout (a quiet channel is normal),
    but a ping every 30 s so a dead connection is noticed and resubscribed."""
    from redis.asyncio import Redis  # noqa: PLC0415 - only when Redis is configured

    redis = Redis.from_url(url, health_check_interval=30, socket_keepalive=True)
    stack.push_async_callback(redis.aclose)
    return redis


async def _open_database(
    settings: Settings, stack: AsyncExitStack, readiness: list[ReadinessCheck]
) -> Database:
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        connection = await stack.enter_async_context(open_sqlite(sqlite_path(url)))
        readiness.append(ReadinessCheck("database", lambda: ping_sqlite(connection)))
        return connection
    from order_service.adapters.postgres.database import (  # noqa: PLC0415 - PostgreSQL only
        open_postgres_pool,
        ping_postgres,
    )

    pool = await stack.enter_async_context(
        open_postgres_pool(
            url,
            schema=settings.database_schema,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            timeout=settings.db_timeout_seconds,
        )
    )
    readiness.append(ReadinessCheck("database", lambda: ping_postgres(pool, timeout=1.0)))
    return pool


def _pool_stats(database: Database) -> dict[str, Callable[[], PoolStats]]:
    """The `db_pool_*` gauges' samplers, by pool name."""
    if isinstance(database, aiosqlite.Connection):
        return {"sqlite": lambda: PoolStats(size=1, in_use=0, max_size=1)}
    return {
        "postgres": lambda: PoolStats(
            size=database.get_size(),
            in_use=database.get_size() - database.get_idle_size(),
            max_size=database.get_max_size(),
        )
    }


def _user_repository(
    database: Database, settings: Settings, tracer: Tracer | None
) -> UserRepository:
    if isinstance(database, aiosqlite.Connection):
        users = SqliteUserRepository(database)
        if tracer is not None:
            # No maintained instrumentation for aiosqlite: one CLIENT span per repository call.
            attributes = {"db.system": "sqlite"}
            trace_methods(users, tracer, "sqlite", kind=SpanKind.CLIENT, attributes=attributes)
        return users
    from order_service.adapters.postgres.user_repository import (  # noqa: PLC0415
        PostgresUserRepository,
    )

    # asyncpg's own instrumentation (platform/tracing.py) gives every query its span.
    return PostgresUserRepository(database, timeout=settings.db_timeout_seconds)


def _search_store(
    database: Database, settings: Settings
) -> tuple[ProductRepository, SearchIndexer, dict[IndexName, SearchIndex]]:
    """The catalogue, the indexer every writer calls, and one SearchIndex per index."""
    if isinstance(database, aiosqlite.Connection):
        sqlite_indices: dict[IndexName, SearchIndex] = {
            name: SqliteSearchIndex(database, name) for name in IndexName
        }
        return (
            SqliteProductRepository(database),
            SqliteSearchIndexer(database),
            sqlite_indices,
        )
    from order_service.adapters.postgres.product_repository import (  # noqa: PLC0415
        PostgresProductRepository,
    )
    from order_service.adapters.postgres.search_index import (  # noqa: PLC0415
        PostgresSearchIndex,
        PostgresSearchIndexer,
    )

    timeout = settings.db_timeout_seconds
    postgres_indices: dict[IndexName, SearchIndex] = {
        name: PostgresSearchIndex(database, name, timeout=timeout) for name in IndexName
    }
    return (
        PostgresProductRepository(database, timeout=timeout),
        PostgresSearchIndexer(database, timeout=timeout),
        postgres_indices,
    )


async def _open_failure_throttle(
    settings: Settings, stack: AsyncExitStack, readiness: list[ReadinessCheck]
) -> FailureThrottle:
    window = settings.login_failure_window_seconds
    if settings.redis_url is None:
        return InProcessFailureThrottle(window_seconds=window)
    from order_service.adapters.redis.failure_throttle import (  # noqa: PLC0415 - Redis only
        RedisFailureThrottle,
    )

    redis = _redis_client(settings.redis_url, settings, stack)

    async def ping() -> None:
        await redis.ping()

    readiness.append(ReadinessCheck("redis", ping))
    return RedisFailureThrottle(redis, window_seconds=window)


def _no_op() -> None:
    return None


async def run_dispatch_worker(settings: Settings) -> None:
    """`order-service worker`: the dispatcher alone, until SIGTERM/SIGINT, then a graceful stop."""
    async with AsyncExitStack() as stack:
        # As `serve` does: OTEL_* configure it, and leaving the stack flushes queued spans.
        traces = stack.enter_context(tracing(service_version=__version__))
        database = await _open_database(settings, stack, [])
        _, outbox = await _open_order_store(settings, stack, database)
        dispatcher = await _open_dispatcher(settings, stack, outbox, traced=traces is not None)
        if settings.worker_metrics_port is not None:
            from prometheus_client import start_http_server  # noqa: PLC0415

            start_http_server(settings.worker_metrics_port, addr=settings.http_host)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, dispatcher.stop)
        await dispatcher.run(grace_seconds=settings.shutdown_grace_seconds)


async def _open_order_store(
    settings: Settings, stack: AsyncExitStack, database: Database
) -> tuple[OrderRepository, OrderOutbox]:
    timeout = settings.db_timeout_seconds
    if not isinstance(database, aiosqlite.Connection):
        from order_service.adapters.postgres.order_outbox import (  # noqa: PLC0415
            PostgresOrderOutbox,
        )
        from order_service.adapters.postgres.order_repository import (  # noqa: PLC0415
            PostgresOrderRepository,
        )

        return PostgresOrderRepository(database, timeout=timeout), PostgresOrderOutbox(
            database, timeout=timeout
        )
    # A SQLite connection of its own: the order adapters run multi-statement transactions,
    # which must not interleave with other adapters' statements on a shared connection.
    path = sqlite_path(settings.effective_database_url)
    connection = await stack.enter_async_context(open_sqlite(path))
    db = SqliteOrderDb(connection)
    return SqliteOrderRepository(db), SqliteOrderOutbox(db)


# The embedded default's provider: the built-in simulator, served in-process (no socket).
_SIMULATOR_BASE = "http://provider-simulator.internal"


def _embedded_simulator() -> tuple[list[Provider], httpx.AsyncBaseTransport]:
    import httpx  # noqa: PLC0415 - only with a dispatcher

    from order_service.adapters.providers.simulator import (  # noqa: PLC0415
        ProviderSimulator,
        SimulatorConfig,
    )

    simulator = ProviderSimulator(SimulatorConfig(rate_per_second=20.0, burst=10))
    provider = Provider(
        id="simulator",
        endpoint=f"{_SIMULATOR_BASE}/providers/simulator",
        regions=frozenset({"*"}),
        skus=frozenset({"*"}),
        cost=1.0,
        rate_per_second=20.0,
        burst=10,
        max_in_flight=16,
        timeout_seconds=5.0,
    )
    return [provider], httpx.ASGITransport(app=simulator)


def configured_providers(settings: Settings) -> list[Provider]:
    return [
        Provider(
            id=p.id,
            endpoint=p.endpoint.rstrip("/"),
            regions=frozenset(p.regions),
            skus=frozenset(p.skus),
            cost=p.cost,
            rate_per_second=p.rate_per_second,
            burst=p.burst,
            max_in_flight=p.max_in_flight,
            timeout_seconds=p.timeout_seconds,
        )
        for p in settings.providers or ()
    ]


async def _open_dispatcher(
    settings: Settings, stack: AsyncExitStack, outbox: OrderOutbox, *, traced: bool
) -> Dispatcher:
    import httpx  # noqa: PLC0415 - only with a dispatcher

    from order_service.adapters.providers.http_client import (  # noqa: PLC0415
        HttpFulfilmentProvider,
    )

    # One line per outbound request is the dispatcher's job ("order dispatched"), not httpx's.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    transport: httpx.AsyncBaseTransport | None = None
    if settings.providers is None:
        providers, transport = _embedded_simulator()
    else:
        providers = configured_providers(settings)
    connections = sum(p.max_in_flight for p in providers)
    if transport is None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        transport = httpx.AsyncHTTPTransport(limits=limits)
    if traced:
        # A client span per provider call, carrying `traceparent` out (the delivery's trace).
        from opentelemetry.instrumentation.httpx import (  # noqa: PLC0415 - only when traced
            AsyncOpenTelemetryTransport,
        )

        transport = AsyncOpenTelemetryTransport(transport)
    client = httpx.AsyncClient(transport=transport, follow_redirects=False)
    stack.push_async_callback(client.aclose)
    policy = DispatchPolicy(
        workers=settings.dispatch_workers,
        lease_seconds=settings.dispatch_lease_seconds,
        poll_seconds=settings.dispatch_poll_seconds,
        max_attempts=settings.dispatch_max_attempts,
        backoff_base_seconds=settings.dispatch_backoff_base_seconds,
        backoff_cap_seconds=settings.dispatch_backoff_cap_seconds,
        limiter_max_wait_seconds=settings.dispatch_limiter_max_wait_seconds,
        breaker_failure_threshold=settings.breaker_failure_threshold,
        breaker_reset_seconds=settings.breaker_reset_seconds,
    )
    return Dispatcher(
        outbox=outbox,
        providers=providers,
        client=HttpFulfilmentProvider(client),
        limiter=_open_rate_limiter(settings, stack),
        policy=policy,
        clock=utc_now,
        observer=PrometheusDispatchObserver(),
    )


def _open_rate_limiter(settings: Settings, stack: AsyncExitStack) -> RateLimiter:
    if settings.redis_url is None:
        return InProcessRateLimiter()
    from order_service.adapters.redis.rate_limiter import RedisRateLimiter  # noqa: PLC0415

    redis = _redis_client(settings.redis_url, settings, stack)
    return RedisRateLimiter(
        redis,
        fallback=InProcessRateLimiter(share=settings.rate_limiter_fallback_share),
        prefix=settings.rate_limiter_key_prefix,
        on_fallback=limiter_fallback,
    )


def _open_blob_store(settings: Settings) -> BlobStore:
    url = settings.images_blob_url
    if url is None:
        return TracedBlobStore(FilesystemBlobStore(settings.var_dir / "blobs"), store="file")
    if url.startswith("file://"):
        return TracedBlobStore(FilesystemBlobStore(Path(url.removeprefix("file://"))), store="file")
    from order_service.adapters.blobs.s3 import S3BlobStore  # noqa: PLC0415 - obstore: S3 only

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    secret = settings.images_s3_secret_access_key
    store = S3BlobStore(
        bucket=bucket,
        prefix=prefix or None,
        endpoint=settings.images_s3_endpoint,
        region=settings.images_s3_region,
        access_key_id=settings.images_s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret else None,
    )
    return TracedBlobStore(store, store="s3")


def _build_images(
    settings: Settings, stack: AsyncExitStack, blobs: BlobStore, repository: ImageRepository
) -> Images:
    metrics = default_image_metrics()
    codec = PoolImageCodec(
        kind=settings.images_render_pool,
        workers=settings.images_render_workers,
        queue=settings.images_render_queue,
        max_pixels=settings.images_max_pixels,
        max_render_seconds=settings.images_render_timeout_seconds,
        gauges=metrics,
    )
    stack.callback(codec.close)
    allowed = frozenset(
        (int(w), int(h))
        for w, _, h in (size.partition("x") for size in settings.images_allowed_sizes.split(","))
        if w and h
    )
    return Images(
        blobs=blobs,
        repository=repository,
        codec=codec,
        cache=ByteBudgetCache(settings.images_cache_bytes),
        limits=ThumbnailLimits(
            max_side=settings.images_max_side, allowed=allowed, outputs=codec.outputs
        ),
        max_upload_bytes=settings.images_max_upload_bytes,
        quality=settings.images_quality,
        metrics=metrics,
    )

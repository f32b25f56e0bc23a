"""The composition root: the one place that reads settings and wires adapters into use cases.

Read top to bottom, `wire()` is the whole dependency graph; its exit stack closes everything
in reverse order on shutdown.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime

from order_service import __version__
from order_service.adapters.crypto.argon2_hasher import Argon2PasswordHasher
from order_service.adapters.crypto.jwt_tokens import JwtTokens, KeyRing
from order_service.adapters.http.app import HttpApp, HttpLimits, ReadinessCheck, Route, Wiring
from order_service.adapters.http.auth_api import auth_routes
from order_service.adapters.http.probes import probe_routes
from order_service.adapters.memory.cached_user_repository import InProcessCachedUserRepository
from order_service.adapters.memory.failure_throttle import InProcessFailureThrottle
from order_service.adapters.sqlite.database import open_sqlite, ping_sqlite, sqlite_path
from order_service.adapters.sqlite.user_repository import SqliteUserRepository
from order_service.application.accounts import Accounts
from order_service.application.ports import FailureThrottle, UserRepository
from order_service.platform.config import Settings, load_settings
from order_service.platform.gc_tuning import tune_gc
from order_service.platform.logging import configure_logging

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

    def probes(app: HttpApp, wiring: Wiring) -> list[Route]:
        return probe_routes(app, wiring.readiness, title="order-service", version=__version__)

    return HttpApp(wire=lambda: wire(settings), limits=limits, extra_routes=probes)


def load_key_ring(settings: Settings) -> KeyRing:
    if settings.jwt_private_keys is not None:
        return KeyRing.from_pem_bundle(settings.jwt_private_keys.get_secret_value())
    # Only the embedded default's own directory is filled automatically; an operator's
    # directory that is empty is a mistake to report, not to paper over.
    return KeyRing.from_directory(
        settings.effective_jwt_keys_dir, create_if_empty=settings.jwt_keys_dir is None
    )


@asynccontextmanager
async def wire(settings: Settings) -> AsyncIterator[Wiring]:
    async with AsyncExitStack() as stack:
        readiness: list[ReadinessCheck] = []
        users = _cached_user_store(
            settings, stack, await _open_user_store(settings, stack, readiness)
        )
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
        )
        wiring = Wiring(
            routes=auth_routes(accounts, keys),
            verifier=tokens,
            readiness=readiness,
            accounts=accounts,
        )
        # Last, once everything long-lived exists: see platform/gc_tuning.py.
        tune_gc(freeze=settings.gc_freeze, gen0_threshold=settings.gc_gen0_threshold)
        yield wiring


def _cached_user_store(
    settings: Settings, stack: AsyncExitStack, store: UserRepository
) -> UserRepository:
    """Reads by id from memory, then Redis (shared by every replica), then the store."""
    users = store
    if settings.redis_url is not None:
        from redis.asyncio import Redis  # noqa: PLC0415 - see _open_user_store
        from redis.asyncio.retry import Retry  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415

        from order_service.adapters.redis.cached_user_repository import (  # noqa: PLC0415
            RedisCachedUserRepository,
        )

        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
            # A cache that retries makes an outage slower than having no cache.
            retry=Retry(NoBackoff(), 0),
        )
        stack.push_async_callback(redis.aclose)
        users = RedisCachedUserRepository(
            users, redis, ttl_seconds=settings.user_cache_redis_ttl_seconds
        )
    if settings.user_cache_size > 0:
        users = InProcessCachedUserRepository(
            users,
            max_entries=settings.user_cache_size,
            ttl_seconds=settings.user_cache_ttl_seconds,
        )
    return users


async def _open_user_store(
    settings: Settings, stack: AsyncExitStack, readiness: list[ReadinessCheck]
) -> UserRepository:
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        connection = await stack.enter_async_context(open_sqlite(sqlite_path(url)))
        readiness.append(ReadinessCheck("database", lambda: ping_sqlite(connection)))
        return SqliteUserRepository(connection)
    # Drivers of the production parts are imported only when configured: the embedded default
    # then starts without loading asyncpg and redis (a third of its start-up time).
    from order_service.adapters.postgres.database import (  # noqa: PLC0415
        open_postgres_pool,
        ping_postgres,
    )
    from order_service.adapters.postgres.user_repository import (  # noqa: PLC0415
        PostgresUserRepository,
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
    return PostgresUserRepository(pool, timeout=settings.db_timeout_seconds)


async def _open_failure_throttle(
    settings: Settings, stack: AsyncExitStack, readiness: list[ReadinessCheck]
) -> FailureThrottle:
    window = settings.login_failure_window_seconds
    if settings.redis_url is None:
        return InProcessFailureThrottle(window_seconds=window)
    from redis.asyncio import Redis  # noqa: PLC0415 - see _open_user_store

    from order_service.adapters.redis.failure_throttle import (  # noqa: PLC0415
        RedisFailureThrottle,
    )

    redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
    )
    stack.push_async_callback(redis.aclose)

    async def ping() -> None:
        await redis.ping()

    readiness.append(ReadinessCheck("redis", ping))
    return RedisFailureThrottle(redis, window_seconds=window)

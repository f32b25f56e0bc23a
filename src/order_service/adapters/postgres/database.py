"""The production store: an asyncpg pool, bounded, every query bounded by the request deadline."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


@asynccontextmanager
async def open_postgres_pool(
    dsn: str, *, schema: str | None, min_size: int, max_size: int, timeout: float
) -> AsyncIterator[asyncpg.Pool]:
    server_settings = {"application_name": "order-service"}
    if schema:
        server_settings["search_path"] = schema
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        command_timeout=timeout,
        server_settings=server_settings,
        reset=_keep_session,
    )
    try:
        yield pool
    finally:
        await pool.close()


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Release a connection without asyncpg's default reset query.

    That query (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) is a second round trip on
    every release, half the database time of a one-query read (docs/performance.md). asyncpg
    still rolls back a transaction left open. In exchange, adapters must not leave session
    state behind: use SET LOCAL, pg_advisory_xact_lock and transaction-scoped cursors, and
    LISTEN only on a connection of their own.
    """


async def ping_postgres(pool: asyncpg.Pool, timeout: float) -> None:
    await pool.fetchval("SELECT 1", timeout=timeout)

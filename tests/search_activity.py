"""What PostgreSQL says about our search queries: how many wait on a lock right now."""

import asyncio

import asyncpg

# Our index queries, told apart from the locker's and other tests' by their text.
_WAITING = (
    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%FROM search_documents AS d%' "
    "AND state = 'active' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
)


async def waiting_searches(connection: asyncpg.Connection) -> int:
    # Inside a transaction pg_stat_activity is a cached snapshot; drop it to see the present.
    await connection.execute("SELECT pg_stat_clear_snapshot()")
    count: int = await connection.fetchval(_WAITING)
    return count


async def wait_for_waiting_searches(
    connection: asyncpg.Connection, expected: int, *, within: float = 10.0
) -> None:
    """Poll the server until exactly `expected` of our queries wait on a lock."""
    async with asyncio.timeout(within):
        # Another process's state: there is no event to wait on, so poll it.
        while await waiting_searches(connection) != expected:  # noqa: ASYNC110 - see above
            await asyncio.sleep(0.02)

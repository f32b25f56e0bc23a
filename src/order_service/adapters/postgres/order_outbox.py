"""OrderOutbox on PostgreSQL: any number of workers claim with FOR UPDATE SKIP LOCKED.

Times come from the database's clock, so workers on machines with skewed clocks agree on
when a lease expires.
"""

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from order_service.adapters.order_rows import ORDER_COLUMNS, mutable_values, order_from_row
from order_service.adapters.postgres.order_repository import UPDATE_ORDER
from order_service.application.order_ports import Claim, LeaseLost, QueueStats
from order_service.domain.orders import Order

# Each step finds its rows by index, whatever the tables held when the plan was cached: joined
# by hash, a plan made while the tables were small scanned the whole outbox and the whole orders
# table in every claim, and both grow under load (a backlog; every order ever placed).
_ORDER = ", ".join(f"o.{column.strip()}" for column in ORDER_COLUMNS.split(","))
_CLAIM = f"""
WITH due AS (
    SELECT order_id FROM order_outbox
    WHERE available_at <= clock_timestamp()
    ORDER BY available_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE order_outbox o
    SET available_at = clock_timestamp() + make_interval(secs => $2),
        lease_token = $3,
        claims = o.claims + 1
    WHERE o.order_id = ANY (ARRAY(SELECT order_id FROM due))
    RETURNING o.order_id, o.claims, o.trace_context
)
SELECT claimed.claims, claimed.trace_context, {_ORDER}
FROM claimed
CROSS JOIN LATERAL (SELECT {ORDER_COLUMNS} FROM orders WHERE id = claimed.order_id LIMIT 1) AS o
ORDER BY o.id
"""  # noqa: S608 - fixed columns
_LOCK = "SELECT 1 FROM order_outbox WHERE order_id = $1 AND lease_token = $2 FOR UPDATE"
_RETRY_LATER = (
    "UPDATE order_outbox SET available_at = clock_timestamp() + make_interval(secs => $2), "
    "lease_token = NULL WHERE order_id = $1"
)
_RELEASE = (
    "UPDATE order_outbox SET available_at = clock_timestamp(), lease_token = NULL, "
    "claims = greatest(claims - 1, 0) WHERE order_id = $1 AND lease_token = $2"
)
_STATS = (
    "SELECT count(*), "
    "coalesce(extract(epoch FROM clock_timestamp() - min(enqueued_at)), 0)::float8 "
    "FROM order_outbox"
)


class PostgresOrderOutbox:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    async def claim(self, *, limit: int, lease_seconds: float) -> list[Claim]:
        token = uuid.uuid4()
        rows = await self._pool.fetch(
            _CLAIM, limit, float(lease_seconds), token, timeout=self._timeout
        )
        return [Claim(order_from_row(tuple(row)[2:]), token, row[0], row[1]) for row in rows]

    async def save(self, claim: Claim, order: Order) -> None:
        async with self._fenced(claim, order):
            pass

    async def finish(self, claim: Claim, order: Order) -> None:
        async with self._fenced(claim, order) as connection:
            await connection.execute(
                "DELETE FROM order_outbox WHERE order_id = $1", order.id, timeout=self._timeout
            )

    async def retry_later(self, claim: Claim, order: Order, *, delay_seconds: float) -> None:
        async with self._fenced(claim, order) as connection:
            await connection.execute(
                _RETRY_LATER, order.id, float(delay_seconds), timeout=self._timeout
            )

    @asynccontextmanager
    async def _fenced(
        self, claim: Claim, order: Order
    ) -> AsyncIterator["asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"]:
        """A transaction that holds the entry's lease (LeaseLost otherwise) and saves `order`;
        the caller adds its change to the entry before it commits."""
        async with (
            self._pool.acquire(timeout=self._timeout) as connection,
            connection.transaction(),
        ):
            found = await connection.fetchval(
                _LOCK, claim.order.id, claim.lease_token, timeout=self._timeout
            )
            if found is None:
                raise LeaseLost
            await connection.execute(
                UPDATE_ORDER, *mutable_values(order), order.id, timeout=self._timeout
            )
            yield connection

    async def release(self, claims: Sequence[Claim]) -> None:
        async with self._pool.acquire(timeout=self._timeout) as connection:
            await connection.executemany(
                _RELEASE,
                [(c.order.id, c.lease_token) for c in claims],
                timeout=self._timeout,
            )

    async def stats(self) -> QueueStats:
        row = await self._pool.fetchrow(_STATS, timeout=self._timeout)
        assert row is not None  # noqa: S101 - an aggregate always returns one row
        return QueueStats(depth=row[0], oldest_age_seconds=max(0.0, row[1]))

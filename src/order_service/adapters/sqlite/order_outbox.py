"""OrderOutbox on SQLite: a claim is one UPDATE ... RETURNING under the database's write lock,
which serialises claimers across processes as FOR UPDATE SKIP LOCKED does on PostgreSQL."""

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiosqlite

from order_service.adapters.order_rows import ORDER_COLUMNS, mutable_values, order_from_row
from order_service.adapters.sqlite.database import sqlite_values
from order_service.adapters.sqlite.order_repository import UPDATE_ORDER, SqliteOrderDb
from order_service.application.order_ports import Claim, LeaseLost, QueueStats
from order_service.domain.orders import Order

_CLAIM = (
    "UPDATE order_outbox SET available_at = ?, lease_token = ?, claims = claims + 1 "
    "WHERE order_id IN (SELECT order_id FROM order_outbox WHERE available_at <= ? "
    "ORDER BY available_at LIMIT ?) RETURNING order_id, claims, trace_context"
)


class SqliteOrderOutbox:
    def __init__(self, db: SqliteOrderDb) -> None:
        self._db = db

    async def claim(self, *, limit: int, lease_seconds: float) -> list[Claim]:
        now = self._db.now()
        token = uuid.uuid4()
        async with self._db.transaction() as connection:
            async with connection.execute(
                _CLAIM, (now + lease_seconds, str(token), now, limit)
            ) as cursor:
                claimed = {row[0]: (row[1], row[2]) for row in await cursor.fetchall()}
            if not claimed:
                return []
            marks = ", ".join("?" for _ in claimed)
            async with connection.execute(
                f"SELECT {ORDER_COLUMNS} FROM orders WHERE id IN ({marks})",  # noqa: S608
                tuple(claimed),
            ) as cursor:
                orders = [order_from_row(row) for row in await cursor.fetchall()]
        orders.sort(key=lambda order: order.id)
        return [Claim(order, token, *claimed[str(order.id)]) for order in orders]

    async def save(self, claim: Claim, order: Order) -> None:
        async with self._fenced(claim, order):
            pass

    async def finish(self, claim: Claim, order: Order) -> None:
        async with self._fenced(claim, order) as connection:
            await connection.execute(
                "DELETE FROM order_outbox WHERE order_id = ?", (str(order.id),)
            )

    async def retry_later(self, claim: Claim, order: Order, *, delay_seconds: float) -> None:
        async with self._fenced(claim, order) as connection:
            await connection.execute(
                "UPDATE order_outbox SET available_at = ?, lease_token = NULL WHERE order_id = ?",
                (self._db.now() + delay_seconds, str(order.id)),
            )

    @asynccontextmanager
    async def _fenced(self, claim: Claim, order: Order) -> AsyncIterator[aiosqlite.Connection]:
        """A transaction that holds the entry's lease (LeaseLost otherwise) and saves `order`;
        the caller adds its change to the entry before it commits."""
        async with self._db.transaction() as connection:
            async with connection.execute(
                "SELECT 1 FROM order_outbox WHERE order_id = ? AND lease_token = ?",
                (str(claim.order.id), str(claim.lease_token)),
            ) as cursor:
                if await cursor.fetchone() is None:
                    raise LeaseLost
            await connection.execute(
                UPDATE_ORDER, (*sqlite_values(mutable_values(order)), str(order.id))
            )
            yield connection

    async def release(self, claims: Sequence[Claim]) -> None:
        now = self._db.now()
        async with self._db.transaction() as connection:
            await connection.executemany(
                "UPDATE order_outbox SET available_at = ?, lease_token = NULL, "
                "claims = max(claims - 1, 0) WHERE order_id = ? AND lease_token = ?",
                [(now, str(c.order.id), str(c.lease_token)) for c in claims],
            )

    async def stats(self) -> QueueStats:
        rows = await self._db.fetch("SELECT count(*), min(enqueued_at) FROM order_outbox", ())
        depth, oldest = rows[0]
        age = 0.0 if oldest is None else max(0.0, self._db.now() - oldest)
        return QueueStats(depth=depth, oldest_age_seconds=age)

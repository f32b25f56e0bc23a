"""OrderRepository on SQLite: orders and their outbox entries, written in one transaction."""

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from order_service.adapters.order_rows import (
    MUTABLE_COLUMNS,
    ORDER_COLUMNS,
    mutable_values,
    order_from_row,
    order_values,
)
from order_service.adapters.sqlite.database import sqlite_values
from order_service.adapters.sqlite.search_index import INDEX_DOCUMENT
from order_service.domain.orders import (
    IdempotencyKeyInUse,
    InvalidTransition,
    Order,
    OrderStatus,
)

_PLACE = (
    f"INSERT INTO orders ({ORDER_COLUMNS}) "  # noqa: S608 - fixed columns
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (customer_id, idempotency_key) DO NOTHING"
)
_BY_KEY = (
    f"SELECT {ORDER_COLUMNS} FROM orders "  # noqa: S608 - fixed columns
    "WHERE customer_id = ? AND idempotency_key = ?"
)
_SET_MUTABLE = ", ".join(f"{column} = ?" for column in MUTABLE_COLUMNS)
UPDATE_ORDER = f"UPDATE orders SET {_SET_MUTABLE} WHERE id = ?"  # noqa: S608 - fixed columns


class SqliteOrderDb:
    """One connection of the order adapters, with a lock so that one coroutine's transaction
    never interleaves with another's statements on the shared connection."""

    def __init__(
        self, connection: aiosqlite.Connection, *, now: Callable[[], float] = time.time
    ) -> None:
        self.connection = connection
        self.now = now
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so concurrent processes queue on
        busy_timeout instead of failing to upgrade a read lock."""
        async with self._lock:
            await self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
            except BaseException:
                await self.connection.execute("ROLLBACK")
                raise
            await self.connection.execute("COMMIT")

    async def fetch(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        async with self._lock, self.connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())


class SqliteOrderRepository:
    def __init__(self, db: SqliteOrderDb) -> None:
        self._db = db

    async def add(self, order: Order, *, trace_context: str | None = None) -> Order:
        now = self._db.now()
        document = order.search_document()
        # The transaction holds the database's write lock from BEGIN IMMEDIATE: no other add
        # can take the key between the insert and the read of the earlier order.
        async with self._db.transaction() as connection:
            inserted = await connection.execute(_PLACE, sqlite_values(order_values(order)))
            if inserted.rowcount == 0:
                async with connection.execute(
                    _BY_KEY, (str(order.customer_id), order.idempotency_key)
                ) as cursor:
                    earlier = await cursor.fetchone()
                if (
                    earlier is None
                ):  # cannot happen under the write lock; the port's answer if it did
                    raise IdempotencyKeyInUse
                return order_from_row(earlier)
            await _enqueue(connection, order.id, now, trace_context)
            await connection.execute(
                INDEX_DOCUMENT,
                (
                    document.index.value,
                    document.id,
                    str(order.customer_id),
                    document.title,
                    document.body,
                ),
            )
        return order

    async def get(self, order_id: uuid.UUID) -> Order | None:
        rows = await self._db.fetch(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?",  # noqa: S608
            (str(order_id),),
        )
        return order_from_row(rows[0]) if rows else None

    async def list(
        self,
        *,
        customer_id: uuid.UUID | None,
        status: OrderStatus | None,
        limit: int,
        before: uuid.UUID | None,
    ) -> list[Order]:
        conditions: list[str] = []
        params: list[Any] = []
        for column, value in (("customer_id", customer_id), ("status", status)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(str(value))
        if before is not None:
            conditions.append("id < ?")
            params.append(str(before))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._db.fetch(
            f"SELECT {ORDER_COLUMNS} FROM orders {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [order_from_row(row) for row in rows]

    async def requeue(self, order: Order, *, expected: OrderStatus) -> None:
        async with self._db.transaction() as connection:
            async with connection.execute(
                "SELECT status FROM orders WHERE id = ?", (str(order.id),)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None or row[0] != expected:
                current = OrderStatus(row[0]) if row else expected
                raise InvalidTransition(current, order.status)
            await connection.execute(
                UPDATE_ORDER, (*sqlite_values(mutable_values(order)), str(order.id))
            )
            await _enqueue(connection, order.id, self._db.now())


async def _enqueue(
    connection: aiosqlite.Connection,
    order_id: uuid.UUID,
    now: float,
    trace_context: str | None = None,
) -> None:
    await connection.execute(
        "INSERT INTO order_outbox "
        "(order_id, available_at, lease_token, claims, enqueued_at, trace_context) "
        "VALUES (?, ?, NULL, 0, ?, ?)",
        (str(order_id), now, now, trace_context),
    )

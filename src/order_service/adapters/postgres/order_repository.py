"""OrderRepository on PostgreSQL: orders and their outbox entries, written in one transaction.

Placing an order is one statement, so one round trip and no BEGIN/COMMIT: it inserts the order
unless the customer already used the key, and only then its outbox entry and its search
document; it answers with the earlier order when there is one. PostgreSQL runs a statement's
data-modifying CTEs in one implicit transaction, so the three rows commit together or not at
all.
"""

import uuid
from typing import Any

import asyncpg

from order_service.adapters.order_rows import (
    MUTABLE_COLUMNS,
    ORDER_COLUMNS,
    mutable_values,
    order_from_row,
    order_values,
)
from order_service.application.deadline import remaining
from order_service.domain.orders import (
    IdempotencyKeyInUse,
    InvalidTransition,
    Order,
    OrderStatus,
)

# `placed` is empty when the key was taken. The final SELECT runs on the statement's snapshot:
# it sees an earlier order committed before the statement began, never the row inserted here,
# and nothing when a concurrent statement holds the key but committed after this one started.
_PLACE = f"""
WITH placed AS (
    INSERT INTO orders ({ORDER_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (customer_id, idempotency_key) DO NOTHING
    RETURNING id
), queued AS (
    INSERT INTO order_outbox
        (order_id, available_at, lease_token, claims, enqueued_at, trace_context)
    SELECT id, clock_timestamp(), NULL, 0, clock_timestamp(), $14 FROM placed
), indexed AS (
    INSERT INTO search_documents (kind, id, owner, title, body)
    SELECT $15, $16, $2, $17, $18 FROM placed
    ON CONFLICT (kind, id) DO UPDATE SET
        owner = excluded.owner, title = excluded.title, body = excluded.body
)
SELECT (SELECT count(*) FROM placed) AS placed, earlier.*
FROM (VALUES (1)) AS one
LEFT JOIN (
    SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $2 AND idempotency_key = $3
) AS earlier ON true
"""  # noqa: S608 - fixed columns
ENQUEUE = (
    "INSERT INTO order_outbox "
    "(order_id, available_at, lease_token, claims, enqueued_at, trace_context) "
    "VALUES ($1, clock_timestamp(), NULL, 0, clock_timestamp(), $2)"
)
UPDATE_ORDER = (
    "UPDATE orders SET "  # noqa: S608 - fixed columns
    + ", ".join(f"{column} = ${n}" for n, column in enumerate(MUTABLE_COLUMNS, start=1))
    + f" WHERE id = ${len(MUTABLE_COLUMNS) + 1}"
)


class PostgresOrderRepository:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    async def add(self, order: Order, *, trace_context: str | None = None) -> Order:
        document = order.search_document()
        row = await self._pool.fetchrow(
            _PLACE,
            *order_values(order),
            trace_context,
            document.index.value,
            document.id,
            document.title,
            document.body,
            timeout=remaining(self._timeout),
        )
        assert row is not None  # noqa: S101 - the LEFT JOIN on one row always returns one
        if row[0]:
            return order
        if row[1] is None:  # taken by a statement that committed after this one began
            raise IdempotencyKeyInUse
        return order_from_row(tuple(row)[1:])

    async def get(self, order_id: uuid.UUID) -> Order | None:
        row = await self._pool.fetchrow(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1",  # noqa: S608
            order_id,
            timeout=remaining(self._timeout),
        )
        return None if row is None else order_from_row(tuple(row))

    async def get_by_idempotency_key(self, customer_id: uuid.UUID, key: str) -> Order | None:
        row = await self._pool.fetchrow(
            f"SELECT {ORDER_COLUMNS} FROM orders "  # noqa: S608
            "WHERE customer_id = $1 AND idempotency_key = $2",
            customer_id,
            key,
            timeout=remaining(self._timeout),
        )
        return None if row is None else order_from_row(tuple(row))

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
        for column, value in (("customer_id", customer_id), ("status", status), ("id", before)):
            if value is not None:
                params.append(str(value) if column == "status" else value)
                operator = "<" if column == "id" else "="
                conditions.append(f"{column} {operator} ${len(params)}")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        params.append(limit)
        rows = await self._pool.fetch(
            f"SELECT {ORDER_COLUMNS} FROM orders {where} "  # noqa: S608
            f"ORDER BY id DESC LIMIT ${len(params)}",
            *params,
            timeout=remaining(self._timeout),
        )
        return [order_from_row(tuple(row)) for row in rows]

    async def requeue(self, order: Order, *, expected: OrderStatus) -> None:
        timeout = remaining(self._timeout)
        async with self._pool.acquire(timeout=timeout) as connection, connection.transaction():
            current = await connection.fetchval(
                "SELECT status FROM orders WHERE id = $1 FOR UPDATE", order.id, timeout=timeout
            )
            if current != expected:
                raise InvalidTransition(OrderStatus(current or expected), order.status)
            await connection.execute(UPDATE_ORDER, *mutable_values(order), order.id)
            await connection.execute(ENQUEUE, order.id, None, timeout=timeout)

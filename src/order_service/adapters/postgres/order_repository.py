"""OrderRepository on PostgreSQL: orders and their outbox entries, written in one transaction."""

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

_INSERT = (
    f"INSERT INTO orders ({ORDER_COLUMNS}) "  # noqa: S608 - fixed columns
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
)
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

    async def add(self, order: Order, *, trace_context: str | None = None) -> None:
        timeout = remaining(self._timeout)
        async with self._pool.acquire(timeout=timeout) as connection, connection.transaction():
            try:
                await connection.execute(_INSERT, *order_values(order), timeout=timeout)
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name == "uq_orders_customer_key":
                    raise IdempotencyKeyInUse from None
                raise
            await connection.execute(ENQUEUE, order.id, trace_context, timeout=timeout)

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

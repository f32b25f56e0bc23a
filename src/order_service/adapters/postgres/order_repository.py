"""OrderRepository on PostgreSQL: orders and their outbox entries, written in one transaction.

Placing orders is one statement per batch, so one round trip and one commit for every order
placed while the previous batch was being written (group commit): it inserts each order unless
its customer already used the key, and only then its outbox entry and its search document, and
answers with the earlier order where there is one. PostgreSQL runs a statement's data-modifying
CTEs in one implicit transaction: a batch's rows commit together or not at all, and a batch
that fails fails each of its orders (Unavailable, 503) without writing any.

No background task: the request that finds no batch in flight writes one (its own order and
whatever else is queued, up to `max_batch`); a request that finds a batch in flight waits for
its order's outcome, or for its turn to write when the writer leaves. A further writer (up to
`max_writers`) starts only when a full batch waits.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from order_service.adapters.order_rows import (
    MUTABLE_COLUMNS,
    ORDER_COLUMNS,
    mutable_values,
    order_from_row,
    order_values,
)
from order_service.application.deadline import DeadlineExceeded, remaining
from order_service.domain.errors import Unavailable
from order_service.domain.orders import (
    IdempotencyKeyInUse,
    InvalidTransition,
    Order,
    OrderStatus,
)

_log = logging.getLogger(__name__)

# The array type of each of ORDER_COLUMNS, in order: id, customer_id, then seven text columns
# (idempotency_key .. provider_ref), attempts, reason, created_at, updated_at.
_ARRAY_TYPES = ("uuid[]",) * 2 + ("text[]",) * 7 + ("int[]", "text[]") + ("timestamptz[]",) * 2
_PARAMS = ", ".join(f"${n}::{kind}" for n, kind in enumerate(_ARRAY_TYPES, start=1))
_N = len(_ARRAY_TYPES)
_EARLIER = ", ".join(f"earlier.{column.strip()}" for column in ORDER_COLUMNS.split(","))
# `placed` lacks the orders whose key was taken. The final SELECT runs on the statement's
# snapshot: it sees an earlier order committed before the statement began, never a row inserted
# here, and nothing when a concurrent statement holds the key but committed after this began.
# It looks the earlier order up only for the orders not placed: `placed.id IS NULL` inside the
# LATERAL subquery (kept apart by LIMIT, the key being unique) is a one-time filter before its
# scan. As a plain LEFT JOIN condition it was checked after the join, and the plan cached while
# `orders` was small (a fresh database, or a table not yet analysed) joined it by a sequential
# scan of the whole table in every batch, whose cost grew with every order placed.
# Inserting in key order makes concurrent batches that share keys (racing retries) wait for each
# other in one order, never in a cycle.
_PLACE = f"""
WITH input AS (
    SELECT * FROM unnest(
        {_PARAMS}, ${_N + 1}::text[], ${_N + 2}::text[], ${_N + 3}::text[], ${_N + 4}::text[]
    ) AS i({ORDER_COLUMNS}, trace_context, kind, title, body)
), placed AS (
    INSERT INTO orders ({ORDER_COLUMNS})
    SELECT {ORDER_COLUMNS} FROM input ORDER BY customer_id, idempotency_key
    ON CONFLICT (customer_id, idempotency_key) DO NOTHING
    RETURNING id
), queued AS (
    INSERT INTO order_outbox
        (order_id, available_at, lease_token, claims, enqueued_at, trace_context)
    SELECT id, clock_timestamp(), NULL, 0, clock_timestamp(), input.trace_context
    FROM input JOIN placed USING (id)
), indexed AS (
    INSERT INTO search_documents (kind, id, owner, title, body)
    SELECT input.kind, input.id::text, input.customer_id, input.title, input.body  -- id: str(uuid)
    FROM input JOIN placed USING (id)
    ON CONFLICT (kind, id) DO UPDATE SET
        owner = excluded.owner, title = excluded.title, body = excluded.body
)
SELECT input.id, placed.id IS NOT NULL, {_EARLIER}
FROM input
LEFT JOIN placed USING (id)
LEFT JOIN LATERAL (
    SELECT {ORDER_COLUMNS} FROM orders
    WHERE placed.id IS NULL
        AND orders.customer_id = input.customer_id
        AND orders.idempotency_key = input.idempotency_key
    LIMIT 1
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


@dataclass(eq=False, slots=True)
class _Placement:
    """One order waiting to be written; `outcome` is the stored order, or None for "your turn
    to write a batch" (then a new future replaces it)."""

    order: Order
    trace_context: str | None
    outcome: "asyncio.Future[Order | None]"
    taken: bool = False  # in a batch being written: no longer the caller's to withdraw
    # Its caller holds a writer slot (it writes, or was handed the turn): none is handed to it.
    slot: bool = False


class PostgresOrderRepository:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        timeout: float,
        max_batch: int = 64,
        max_writers: int = 2,
        overlap_at: int | None = None,
    ) -> None:
        """`max_writers` bounds the pool connections that placing orders holds at once (the
        rest stay free for reads); `max_batch` bounds one statement's orders.

        An order that finds no batch in flight is written at once. One that finds a batch in
        flight waits for it and goes into the next one, with every order that queued
        meanwhile; another writer starts beside the one in flight only when `overlap_at`
        orders (default: `max_batch`, a full batch) wait. Each statement costs PostgreSQL a
        commit and the service a round trip whatever its size: with a second writer free for
        any order, over half the statements under load carried a single order (the ones that
        arrived just after a batch left), and a one-order statement cost PostgreSQL ~7 times
        the CPU per order of a 48-order one (docs/performance.md, "POST /v1/orders: fuller
        batches, and no scan of every order ever placed"). The second writer is still there
        for a queue one statement cannot take, or that builds up behind a slow batch (a lock
        wait on a key another replica is placing)."""
        self._pool = pool
        self._timeout = timeout
        self._max_batch = max_batch
        self._max_writers = max_writers
        self._overlap_at = max_batch if overlap_at is None else overlap_at
        self._writers = 0
        self._queue: list[_Placement] = []

    async def add(self, order: Order, *, trace_context: str | None = None) -> Order:
        loop = asyncio.get_running_loop()
        placement = _Placement(order, trace_context, loop.create_future())
        self._queue.append(placement)
        try:
            async with asyncio.timeout(remaining(self._timeout)):
                if self._may_start_writer():
                    self._writers += 1
                    placement.slot = True
                while True:
                    if placement.slot:
                        await self._write_until_taken(placement)
                    stored = await placement.outcome
                    if stored is not None:
                        return stored
                    placement.outcome = loop.create_future()  # handed a slot: our turn to write
        except TimeoutError:
            raise DeadlineExceeded from None
        finally:
            if placement.outcome.done() and not placement.outcome.cancelled():
                placement.outcome.exception()  # retrieved: raised above, or by our own batch
            if not placement.taken:
                # Withdrawn unwritten (deadline, cancellation, a failed connection): the
                # caller's failure is the whole truth. A slot handed to it passes on.
                self._queue.remove(placement)
                if placement.slot:
                    placement.slot = False
                    self._writers -= 1
                self._hand_over()

    def _may_start_writer(self) -> bool:
        """A slot is free, and no batch is in flight or enough orders wait for another one."""
        return self._writers < self._max_writers and (
            self._writers == 0 or len(self._queue) >= self._overlap_at
        )

    async def _write_until_taken(self, placement: _Placement) -> None:
        try:
            while not placement.taken:  # each batch takes the queue's head: progress
                await self._write_batch()
        finally:
            placement.slot = False
            self._writers -= 1
            self._hand_over()

    def _hand_over(self) -> None:
        """A writer slot is free: give it to the first waiting order's caller, which writes the
        next batch, if a writer may start now (`_may_start_writer`); otherwise the writer in
        flight hands over when it leaves.

        The slot is the woken caller's from this moment, before its task runs: an order that
        arrives meanwhile (the next request of a client just answered) finds a writer and
        joins the woken caller's batch, instead of taking the free slot for a batch of its
        own. Never a caller that holds a slot already (waiting for a connection): its order
        would then look woken, every batch would skip it, and its writer would spin until the
        deadline."""
        if not self._may_start_writer():
            return
        for waiting in self._queue:
            if not waiting.slot and not waiting.outcome.done():
                waiting.slot = True
                self._writers += 1
                waiting.outcome.set_result(None)
                return

    def _take(self) -> list[_Placement]:
        # Skip orders whose caller has been woken or cancelled: it writes or withdraws its own.
        batch = [p for p in self._queue if not p.outcome.done()][: self._max_batch]
        for placement in batch:
            placement.taken = True
            self._queue.remove(placement)
        return batch

    async def _write_batch(self) -> None:
        async with self._pool.acquire() as connection:
            # Requests made ready in this turn of the event loop queue their orders first (a
            # free connection is handed out without yielding): the clients answered together
            # by the last batch place their next orders together, not the first one alone.
            await asyncio.sleep(0)
            batch = self._take()  # after the wait for a connection: what queued meanwhile too
            if not batch:
                return
            # One row per key: a second order of a key in the same batch gets the first's outcome.
            first: dict[tuple[uuid.UUID, str], Order] = {}
            for placement in batch:
                order = placement.order
                first.setdefault((order.customer_id, order.idempotency_key), order)
            try:
                rows = await connection.fetch(_PLACE, *_columns(batch, first))
            except BaseException as error:
                # Not one of the batch's orders is known to be stored: each caller is told so,
                # and a retry with its Idempotency-Key finds it if the commit did happen.
                for placement in batch:
                    if not placement.outcome.done():
                        placement.outcome.set_exception(_not_stored())
                if isinstance(error, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                    _log.warning("order batch failed", exc_info=True, extra={"orders": len(batch)})
                    raise _not_stored() from error
                raise
        by_id = {order.id: order for order in first.values()}
        stored = {row[0]: _stored(tuple(row), by_id) for row in rows}
        for placement in batch:
            order = placement.order
            result = stored[first[order.customer_id, order.idempotency_key].id]
            if placement.outcome.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, Order):
                placement.outcome.set_result(result)
            else:
                placement.outcome.set_exception(result)

    async def get(self, order_id: uuid.UUID) -> Order | None:
        row = await self._pool.fetchrow(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1",  # noqa: S608
            order_id,
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


def _columns(batch: list[_Placement], first: dict[tuple[uuid.UUID, str], Order]) -> list[list[Any]]:
    """The batch's first order of each key, as one array per column of the statement's input."""
    trace = {placement.order.id: placement.trace_context for placement in batch}
    rows = []
    for order in first.values():
        document = order.search_document()
        rows.append(
            (
                *order_values(order),
                trace[order.id],
                document.index.value,
                document.title,
                document.body,
            )
        )
    return [list(column) for column in zip(*rows, strict=True)]


def _stored(row: tuple[Any, ...], by_id: dict[uuid.UUID, Order]) -> Order | IdempotencyKeyInUse:
    """The order stored under a row's key: the one placed, or the earlier one."""
    if row[1]:
        return by_id[row[0]]
    if row[2] is None:  # taken by a statement that committed after this one began
        return IdempotencyKeyInUse()
    return order_from_row(row[2:])


def _not_stored() -> Unavailable:
    return Unavailable("the order could not be stored; retry with the same Idempotency-Key")

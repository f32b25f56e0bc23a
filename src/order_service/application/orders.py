"""The order router's use cases: place an order, read it, list orders, retry a failed one."""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from order_service.application.order_ports import OrderRepository
from order_service.application.ports import Clock, Principal
from order_service.domain.errors import Forbidden, InvalidInput
from order_service.domain.ids import new_id
from order_service.domain.orders import (
    IdempotencyKeyReused,
    LineItem,
    Order,
    OrderNotFound,
    OrderStatus,
    check_code,
    check_items,
    request_fingerprint,
)

_log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Placed:
    order: Order
    replayed: bool  # True when the key was seen before and the original order is returned


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: list[Order]
    next_cursor: uuid.UUID | None


class Orders:
    """Accepting and reading orders; dispatching them is the Dispatcher's job."""

    def __init__(self, *, orders: OrderRepository, clock: Clock) -> None:
        """The order store also keeps the orders search index, in the order's transaction."""
        self._orders = orders
        self._clock = clock

    async def place_order(
        self,
        principal: Principal,
        *,
        idempotency_key: str,
        items: Sequence[LineItem],
        region: str,
        trace_context: str | None = None,
    ) -> Placed:
        """Accept an order durably (order, outbox entry and search document in one transaction).

        The same key and body again return the original order; the same key with another body
        raises IdempotencyKeyReused; a concurrent request with the same key that loses the race
        raises IdempotencyKeyInUse. `trace_context` (the request's W3C `traceparent`, opaque
        here) is stored with the outbox entry so the delivery's spans link to this request.
        """
        key = idempotency_key.strip()
        if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
            raise InvalidInput(
                "Idempotency-Key",
                f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable characters",
            )
        checked = check_items(items)
        region = check_code("region", region)
        fingerprint = request_fingerprint(checked, region)
        now = self._clock()
        order = Order(
            id=new_id(),
            customer_id=principal.subject,
            items=checked,
            region=region,
            idempotency_key=key,
            fingerprint=fingerprint,
            status=OrderStatus.ACCEPTED,
            created_at=now,
            updated_at=now,
        )
        # One write: the order, its outbox entry and its search document, or the earlier order
        # of this key (a retry) with nothing written.
        stored = await self._orders.add(order, trace_context=trace_context)
        if stored.id != order.id:
            if stored.fingerprint != fingerprint:
                raise IdempotencyKeyReused
            return Placed(stored, replayed=True)
        # DEBUG: one line per order is the busiest application log line and is not sampled;
        # the order's state is queryable, and the access log and metrics count the 202s.
        _log.debug(
            "order accepted",
            extra={"order_id": str(order.id), "status": order.status, "region": region},
        )
        return Placed(order, replayed=False)

    async def get_order(self, principal: Principal, order_id: uuid.UUID) -> Order:
        """The owner or an admin may read an order; others cannot even learn that it exists."""
        order = await self._orders.get(order_id)
        if order is None or (order.customer_id != principal.subject and not principal.is_admin):
            raise OrderNotFound
        return order

    async def list_orders(
        self,
        principal: Principal,
        *,
        status: OrderStatus | None,
        limit: int,
        cursor: uuid.UUID | None,
    ) -> OrderPage:
        """A customer's own orders, or every order for an admin; newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"limit must be between 1 and {MAX_PAGE}")
        customer = None if principal.is_admin else principal.subject
        # One extra row tells whether another page follows, without a count query.
        rows = await self._orders.list(
            customer_id=customer, status=status, limit=limit + 1, before=cursor
        )
        page = rows[:limit]
        next_cursor = page[-1].id if len(rows) > limit else None
        return OrderPage(page, next_cursor)

    async def retry_order(self, principal: Principal, order_id: uuid.UUID) -> Order:
        """An admin sends a failed order through routing and dispatch again."""
        if not principal.is_admin:
            raise Forbidden("only an admin may retry an order")
        order = await self._orders.get(order_id)
        if order is None:
            raise OrderNotFound
        retried = order.retried(self._clock())
        await self._orders.requeue(retried, expected=OrderStatus.FAILED)
        _log.info(
            "order retried",
            extra={
                "order_id": str(order.id),
                "status": retried.status,
                "by": str(principal.subject),
            },
        )
        return retried

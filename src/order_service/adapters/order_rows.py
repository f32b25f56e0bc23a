"""The one mapping between an `orders` row and an Order, shared by the SQL adapters."""

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from order_service.domain.orders import LineItem, Order, OrderStatus

ORDER_COLUMNS = (
    "id, customer_id, idempotency_key, fingerprint, items, region, status, provider_id, "
    "provider_ref, attempts, reason, created_at, updated_at"
)
# The columns a transition may change, for UPDATE statements.
MUTABLE_COLUMNS = ("status", "provider_id", "provider_ref", "attempts", "reason", "updated_at")


_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder, not one per call


def items_to_text(items: Sequence[LineItem]) -> str:
    return _COMPACT_JSON.encode([[item.sku, item.quantity] for item in items])


def order_values(order: Order) -> tuple[Any, ...]:
    """The row's values in ORDER_COLUMNS order, with native uuid and datetime values."""
    return (
        order.id,
        order.customer_id,
        order.idempotency_key,
        order.fingerprint,
        items_to_text(order.items),
        order.region,
        str(order.status),
        order.provider_id,
        order.provider_ref,
        order.attempts,
        order.reason,
        order.created_at,
        order.updated_at,
    )


def mutable_values(order: Order) -> tuple[Any, ...]:
    return (
        str(order.status),
        order.provider_id,
        order.provider_ref,
        order.attempts,
        order.reason,
        order.updated_at,
    )


def order_from_row(row: Sequence[Any]) -> Order:
    return Order(
        id=_uuid(row[0]),
        customer_id=_uuid(row[1]),
        idempotency_key=row[2],
        fingerprint=row[3],
        items=tuple(LineItem(sku, quantity) for sku, quantity in json.loads(row[4])),
        region=row[5],
        status=OrderStatus(row[6]),
        provider_id=row[7],
        provider_ref=row[8],
        attempts=row[9],
        reason=row[10],
        created_at=_datetime(row[11]),
        updated_at=_datetime(row[12]),
    )


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)

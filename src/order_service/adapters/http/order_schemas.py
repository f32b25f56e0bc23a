"""The order router's wire format. Generous bounds here; the domain enforces the real rules."""

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from order_service.domain.orders import Order

Code = Annotated[str, Meta(min_length=1, max_length=64, examples=["sku-123"])]


class LineItemIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Code
    quantity: Annotated[int, Meta(ge=1, le=10_000)]


class PlaceOrder(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[LineItemIn], Meta(min_length=1, max_length=100)]
    region: Annotated[str, Meta(min_length=1, max_length=64, examples=["eu-west"])]


class LineItemOut(msgspec.Struct):
    sku: str
    quantity: int


class OrderOut(msgspec.Struct):
    id: uuid.UUID
    customer_id: uuid.UUID
    status: Annotated[
        str,
        Meta(
            description="accepted, routed, dispatched, confirmed; or unroutable / failed "
            "(see reason)"
        ),
    ]
    items: list[LineItemOut]
    region: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    provider_id: str | None = None
    provider_ref: str | None = None
    reason: str | None = None

    @classmethod
    def of(cls, order: Order) -> "OrderOut":
        return cls(
            id=order.id,
            customer_id=order.customer_id,
            status=str(order.status),
            items=[LineItemOut(item.sku, item.quantity) for item in order.items],
            region=order.region,
            attempts=order.attempts,
            created_at=order.created_at,
            updated_at=order.updated_at,
            provider_id=order.provider_id,
            provider_ref=order.provider_ref,
            reason=order.reason,
        )


class OrderPageOut(msgspec.Struct):
    items: list[OrderOut]
    next_cursor: Annotated[
        str | None, Meta(description="pass as ?cursor= for the next page; null on the last")
    ] = None

"""Orders and the state machine they move through, from acceptance to confirmation."""

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from order_service.domain.errors import Conflict, InvalidInput, NotFound
from order_service.domain.search import SearchDocument, order_document

MAX_LINE_ITEMS = 100
MAX_QUANTITY = 10_000
MAX_REASON_LENGTH = 500
_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


class OrderStatus(StrEnum):
    ACCEPTED = "accepted"
    ROUTED = "routed"
    DISPATCHED = "dispatched"
    CONFIRMED = "confirmed"
    UNROUTABLE = "unroutable"
    FAILED = "failed"


TERMINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.UNROUTABLE, OrderStatus.FAILED})

# Which status may follow which. ROUTED after DISPATCHED means the last attempt was definitely
# not applied by the provider (refused, throttled, unreachable), so the order may go elsewhere;
# DISPATCHED after DISPATCHED is another attempt at the same provider, whose effect is unknown.
_NEXT: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.ACCEPTED: frozenset(
        {OrderStatus.ROUTED, OrderStatus.UNROUTABLE, OrderStatus.FAILED}
    ),
    OrderStatus.ROUTED: frozenset(
        {OrderStatus.ROUTED, OrderStatus.DISPATCHED, OrderStatus.UNROUTABLE, OrderStatus.FAILED}
    ),
    OrderStatus.DISPATCHED: frozenset(
        {
            OrderStatus.DISPATCHED,
            OrderStatus.ROUTED,
            OrderStatus.CONFIRMED,
            OrderStatus.FAILED,
        }
    ),
    OrderStatus.CONFIRMED: frozenset(),
    OrderStatus.UNROUTABLE: frozenset(),
    OrderStatus.FAILED: frozenset({OrderStatus.ACCEPTED}),
}


class OrderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("order not found")


class InvalidTransition(Conflict):
    def __init__(self, current: OrderStatus, wanted: OrderStatus) -> None:
        super().__init__(f"an order that is {current} cannot become {wanted}")
        self.current = current
        self.wanted = wanted


class IdempotencyKeyInUse(Conflict):
    """Another request with the same key is being processed right now."""

    def __init__(self) -> None:
        super().__init__("a request with this Idempotency-Key is already in progress")


class IdempotencyKeyReused(InvalidInput):
    """The key was used before with a different body."""

    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key", "this Idempotency-Key was already used with a different body"
        )


@dataclass(frozen=True, slots=True)
class LineItem:
    sku: str
    quantity: int


def check_code(field: str, value: str, *, max_length: int = 64) -> str:
    """SKUs, regions and provider ids: short, printable, no spaces."""
    if not value or len(value) > max_length or not set(value) <= _CODE_CHARS:
        raise InvalidInput(
            field, f"{field} must be 1-{max_length} letters, digits, '-', '_' or '.'"
        )
    return value


def check_items(items: Sequence[LineItem]) -> tuple[LineItem, ...]:
    """At least one line, each SKU once, quantities between 1 and MAX_QUANTITY."""
    if not items:
        raise InvalidInput("items", "an order needs at least one line item")
    if len(items) > MAX_LINE_ITEMS:
        raise InvalidInput("items", f"an order takes at most {MAX_LINE_ITEMS} line items")
    seen: set[str] = set()
    for index, item in enumerate(items):
        check_code(f"items[{index}].sku", item.sku)
        if item.sku in seen:
            raise InvalidInput(f"items[{index}].sku", f"SKU {item.sku} appears twice")
        seen.add(item.sku)
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise InvalidInput(
                f"items[{index}].quantity", f"quantity must be between 1 and {MAX_QUANTITY}"
            )
    return tuple(items)


_CANONICAL_JSON = json.JSONEncoder(separators=(",", ":"))


def request_fingerprint(items: Sequence[LineItem], region: str) -> str:
    """A digest of what was asked, to tell a replay from a different request with the same key.

    The SHA-256 of `{"items":[[sku,quantity],...],"region":region}` as compact JSON. Orders keep
    it, so the same request must give the same digest in every release."""
    if _is_code(region) and all(
        _is_code(item.sku) and type(item.quantity) is int for item in items
    ):
        # Codes need no JSON escaping: the same text, written out at a third of the encoder's
        # cost (this runs for every order placed).
        lines = ",".join(f'["{item.sku}",{item.quantity}]' for item in items)
        canonical = f'{{"items":[{lines}],"region":"{region}"}}'
    else:
        items_json = [[item.sku, item.quantity] for item in items]
        canonical = _CANONICAL_JSON.encode({"items": items_json, "region": region})
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_code(value: object) -> bool:
    return isinstance(value, str) and _CODE_CHARS.issuperset(value)


@dataclass(frozen=True, slots=True)
class Order:
    """An order and its dispatch state. Transitions return a new Order, or raise InvalidTransition.

    `provider_id` is the provider the order is routed to; `attempts` counts deliveries started
    (a crash mid-delivery still counts one); `reason` says why an order is unroutable or failed.
    """

    id: uuid.UUID
    customer_id: uuid.UUID
    items: tuple[LineItem, ...]
    region: str
    idempotency_key: str
    fingerprint: str
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    provider_id: str | None = None
    provider_ref: str | None = None
    attempts: int = 0
    reason: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def skus(self) -> frozenset[str]:
        return frozenset(item.sku for item in self.items)

    def search_document(self) -> SearchDocument:
        """What the orders search index holds: findable by id, SKU, region and customer."""
        count = sum(item.quantity for item in self.items)
        return order_document(
            order_id=self.id,
            customer_id=self.customer_id,
            title=f"Order {str(self.id)[-12:]}: {count} item{'s' if count != 1 else ''} "
            f"to {self.region}",
            details=" ".join([*sorted(self.skus), self.region, str(self.customer_id)]),
        )

    @property
    def delivery_key(self) -> str:
        """The idempotency key sent to providers: unique per order, the same on every attempt."""
        return str(self.id)

    def _to(self, status: OrderStatus, now: datetime, **changes: object) -> "Order":
        if status not in _NEXT[self.status]:
            raise InvalidTransition(self.status, status)
        return replace(self, status=status, updated_at=now, **changes)  # type: ignore[arg-type]

    def routed(self, provider_id: str, now: datetime) -> "Order":
        return self._to(OrderStatus.ROUTED, now, provider_id=provider_id, reason=None)

    def dispatched(self, now: datetime) -> "Order":
        """A delivery attempt starts; its outcome is unknown until recorded."""
        if self.provider_id is None:
            raise InvalidTransition(self.status, OrderStatus.DISPATCHED)
        return self._to(OrderStatus.DISPATCHED, now, attempts=self.attempts + 1)

    def not_applied(self, reason: str, now: datetime) -> "Order":
        """The provider certainly did not apply the last attempt: the order may be re-routed."""
        if self.status is not OrderStatus.DISPATCHED:
            raise InvalidTransition(self.status, OrderStatus.ROUTED)
        return self._to(OrderStatus.ROUTED, now, reason=_short(reason))

    def confirmed(self, provider_ref: str, now: datetime) -> "Order":
        return self._to(OrderStatus.CONFIRMED, now, provider_ref=provider_ref, reason=None)

    def unroutable(self, reason: str, now: datetime) -> "Order":
        return self._to(OrderStatus.UNROUTABLE, now, reason=_short(reason))

    def failed(self, reason: str, now: datetime) -> "Order":
        return self._to(OrderStatus.FAILED, now, reason=_short(reason))

    def retried(self, now: datetime) -> "Order":
        """An admin sends a failed order through routing again, with a fresh attempt budget."""
        return self._to(
            OrderStatus.ACCEPTED, now, attempts=0, reason=None, provider_id=None, provider_ref=None
        )

    def with_reason(self, reason: str, now: datetime) -> "Order":
        """The same status with a note on why it is waiting (a retry, an open circuit)."""
        return replace(self, reason=_short(reason), updated_at=now)


def _short(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_LENGTH else reason[: MAX_REASON_LENGTH - 1] + "…"

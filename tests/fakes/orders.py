"""In-memory fakes of the order router's ports; the store passes the same contract suite as
the SQLite and PostgreSQL adapters."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from order_service.application.order_ports import (
    Claim,
    Delivery,
    LeaseLost,
    Outcome,
    QueueStats,
    Slot,
)
from order_service.domain.ids import new_id
from order_service.domain.orders import (
    InvalidTransition,
    LineItem,
    Order,
    OrderStatus,
)
from order_service.domain.providers import Provider
from tests.fakes.search import InMemorySearchStore


def accepted_order(**changes: Any) -> Order:
    """A new order as `place_order` makes it: one line item, region "eu", a unique key."""
    now = datetime.now(UTC)
    order = Order(
        id=new_id(),
        customer_id=uuid.uuid4(),
        items=(LineItem("sku-1", 1),),
        region="eu",
        idempotency_key=str(uuid.uuid4()),
        fingerprint="f" * 64,
        status=OrderStatus.ACCEPTED,
        created_at=now,
        updated_at=now,
    )
    return replace(order, **changes)


@dataclass
class _Entry:
    available_at: float
    enqueued_at: float
    lease_token: uuid.UUID | None = None
    claims: int = 0
    trace_context: str | None = None


class InMemoryOrderStore:
    """Orders and their outbox in dicts; `now` is the store's clock in seconds."""

    def __init__(
        self, now: Callable[[], float], *, search: InMemorySearchStore | None = None
    ) -> None:
        """`search`, when given, receives each added order's document, as the SQL adapters'
        search_documents table does in the order's transaction."""
        self.now = now
        self.orders: dict[uuid.UUID, Order] = {}
        self.outbox: dict[uuid.UUID, _Entry] = {}
        self.search = search

    # OrderRepository
    async def add(self, order: Order, *, trace_context: str | None = None) -> Order:
        earlier = self._by_key(order.customer_id, order.idempotency_key)
        if earlier is not None:
            return earlier
        self.orders[order.id] = order
        self.outbox[order.id] = _Entry(
            available_at=self.now(), enqueued_at=self.now(), trace_context=trace_context
        )
        if self.search is not None:
            await self.search.put(order.search_document())
        return order

    async def get(self, order_id: uuid.UUID) -> Order | None:
        return self.orders.get(order_id)

    def _by_key(self, customer_id: uuid.UUID, key: str) -> Order | None:
        return next(
            (
                o
                for o in self.orders.values()
                if o.customer_id == customer_id and o.idempotency_key == key
            ),
            None,
        )

    async def requeue(self, order: Order, *, expected: OrderStatus) -> None:
        current = self.orders[order.id].status
        if current != expected:
            raise InvalidTransition(current, order.status)
        self.orders[order.id] = order
        self.outbox[order.id] = _Entry(available_at=self.now(), enqueued_at=self.now())

    # OrderOutbox
    async def claim(self, *, limit: int, lease_seconds: float) -> list[Claim]:
        now = self.now()
        token = uuid.uuid4()
        due = sorted(
            (e.available_at, order_id)
            for order_id, e in self.outbox.items()
            if e.available_at <= now
        )[:limit]
        claims = []
        for _, order_id in due:
            entry = self.outbox[order_id]
            entry.available_at = now + lease_seconds
            entry.lease_token = token
            entry.claims += 1
            claims.append(Claim(self.orders[order_id], token, entry.claims, entry.trace_context))
        return sorted(claims, key=lambda c: c.order.id)

    def _leased(self, claim: Claim) -> _Entry:
        entry = self.outbox.get(claim.order.id)
        if entry is None or entry.lease_token != claim.lease_token:
            raise LeaseLost
        return entry

    async def save(self, claim: Claim, order: Order) -> None:
        self._leased(claim)
        self.orders[order.id] = order

    async def finish(self, claim: Claim, order: Order) -> None:
        self._leased(claim)
        self.orders[order.id] = order
        del self.outbox[order.id]

    async def retry_later(self, claim: Claim, order: Order, *, delay_seconds: float) -> None:
        entry = self._leased(claim)
        self.orders[order.id] = order
        entry.available_at = self.now() + delay_seconds
        entry.lease_token = None

    async def release(self, claims: Sequence[Claim]) -> None:
        for claim in claims:
            entry = self.outbox.get(claim.order.id)
            if entry is not None and entry.lease_token == claim.lease_token:
                entry.available_at = self.now()
                entry.lease_token = None
                entry.claims = max(entry.claims - 1, 0)

    async def stats(self) -> QueueStats:
        if not self.outbox:
            return QueueStats(0, 0.0)
        oldest = min(e.enqueued_at for e in self.outbox.values())
        return QueueStats(len(self.outbox), max(0.0, self.now() - oldest))

    # Last: a method named `list` would shadow the builtin in the annotations below it.
    async def list(
        self,
        *,
        customer_id: uuid.UUID | None,
        status: OrderStatus | None,
        limit: int,
        before: uuid.UUID | None,
    ) -> list[Order]:
        found = [
            o
            for o in self.orders.values()
            if (customer_id is None or o.customer_id == customer_id)
            and (status is None or o.status == status)
            and (before is None or o.id < before)
        ]
        return sorted(found, key=lambda o: o.id, reverse=True)[:limit]


@dataclass
class ScriptedProvider:
    """A FulfilmentProvider that answers from a script per provider id, then confirms.

    `sent` records (provider id, delivery key) for every submit, in order.
    """

    script: dict[str, list[Delivery]] = field(default_factory=dict)
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def submit(self, provider: Provider, order: Order) -> Delivery:
        self.sent.append((provider.id, order.delivery_key))
        answers = self.script.get(provider.id)
        if answers:
            return answers.pop(0)
        return Delivery(Outcome.CONFIRMED, "ok", provider_ref=f"{provider.id}:{order.id}")


class UnlimitedRateLimiter:
    async def reserve(self, provider: Provider, *, max_wait: float) -> Slot:  # noqa: ARG002 - no limit to apply
        return Slot(wait=0.0, granted=True)

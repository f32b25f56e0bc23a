"""The ports of the order router: the order store, its outbox, providers and the rate limiter."""

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from order_service.domain.errors import Conflict
from order_service.domain.orders import Order, OrderStatus
from order_service.domain.providers import Provider
from order_service.domain.resilience import BreakerState


class LeaseLost(Conflict):
    """The claim expired and another worker may own the entry now; this worker must let go."""

    def __init__(self) -> None:
        super().__init__("the outbox lease was lost")


class OrderRepository(Protocol):
    """Orders, written together with their outbox entry and their search document.

    `add` inserts the order, its outbox entry and its document in the orders search index
    (`order.search_document()`) in one transaction, unless the customer already has an order
    with that idempotency key: then it writes nothing and returns that earlier order. It
    returns `order` itself when it was inserted. When another add of the same key races it and
    the earlier order cannot be read yet, it raises IdempotencyKeyInUse; of racing adds, one
    inserts. `trace_context` is the placing request's W3C `traceparent`, kept opaque with the
    outbox entry so dispatch spans can link back to that request's trace.
    """

    async def add(self, order: Order, *, trace_context: str | None = None) -> Order: ...

    async def get(self, order_id: uuid.UUID) -> Order | None: ...

    async def list(
        self,
        *,
        customer_id: uuid.UUID | None,
        status: OrderStatus | None,
        limit: int,
        before: uuid.UUID | None,
    ) -> list[Order]:
        """Newest first; `before` is the id of the last order of the previous page."""
        ...

    async def requeue(self, order: Order, *, expected: OrderStatus) -> None:
        """Save `order` and give it a new outbox entry in one transaction.

        Raises InvalidTransition when the stored order is no longer in status `expected`.
        """
        ...


@dataclass(frozen=True, slots=True)
class Claim:
    """An outbox entry leased to one worker, with its order as of the claim."""

    order: Order
    lease_token: uuid.UUID
    claims: int  # times the entry has been claimed, this one included
    trace_context: str | None = None  # the placing request's `traceparent`, opaque here


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int
    oldest_age_seconds: float


class OrderOutbox(Protocol):
    """The dispatch queue: outbox entries claimed under a lease by any number of workers.

    An entry is claimable when it is due and not leased, or its lease expired. Every write
    through a Claim checks the lease token in the same transaction and raises LeaseLost when
    another worker has claimed the entry since.
    """

    async def claim(self, *, limit: int, lease_seconds: float) -> list[Claim]: ...

    async def save(self, claim: Claim, order: Order) -> None:
        """Record the order's new state; the entry stays claimed."""
        ...

    async def finish(self, claim: Claim, order: Order) -> None:
        """Record the order's final state and delete the entry."""
        ...

    async def retry_later(self, claim: Claim, order: Order, *, delay_seconds: float) -> None:
        """Record the order's state and make the entry due again after `delay_seconds`."""
        ...

    async def release(self, claims: Sequence[Claim]) -> None:
        """Give entries back, due now, without changing their orders (graceful shutdown)."""
        ...

    async def stats(self) -> QueueStats: ...


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    THROTTLED = "throttled"  # 429: not applied; not a fault of the provider
    NOT_APPLIED = "not_applied"  # refused before any effect (503, connection refused)
    UNKNOWN = "unknown"  # timeout, 5xx, broken connection: the effect may have happened
    REJECTED = "rejected"  # a permanent refusal (4xx): retrying cannot help


@dataclass(frozen=True, slots=True)
class Delivery:
    outcome: Outcome
    detail: str
    provider_ref: str | None = None
    retry_after: float | None = None


class FulfilmentProvider(Protocol):
    """Sends an order to a provider, carrying `order.delivery_key` as its idempotency key.

    Never raises for a provider's failure: every failure is a Delivery with its Outcome.
    Each call is bounded by `provider.timeout_seconds`.
    """

    async def submit(self, provider: Provider, order: Order) -> Delivery: ...


@dataclass(frozen=True, slots=True)
class Slot:
    """A send slot: go after `wait` seconds. Not `granted`: none within the wait asked for."""

    wait: float
    granted: bool


class RateLimiter(Protocol):
    """Send slots per provider, shared by every worker that uses the same limiter backend."""

    async def reserve(self, provider: Provider, *, max_wait: float) -> Slot: ...


class DispatchObserver(Protocol):
    """What the dispatcher reports for metrics; adapters turn it into Prometheus series."""

    def claimed(self, claims: Sequence[Claim], seconds: float) -> None:
        """A claim that took `seconds` returned `claims` (a trace span links to their requests)."""
        ...

    def delivering(self, claim: Claim) -> AbstractContextManager[object]:
        """Around one claim's delivery: a span linked to the trace that placed the order."""
        ...

    def delivered(self, provider_id: str, outcome: str) -> None: ...

    def limiter_waited(self, provider_id: str, seconds: float) -> None: ...

    def in_flight(self, provider_id: str, delta: int) -> None: ...

    def breaker(self, provider_id: str, state: BreakerState) -> None: ...

    def queue(self, stats: QueueStats) -> None: ...


class NullDispatchObserver:
    def claimed(self, claims: Sequence[Claim], seconds: float) -> None: ...

    def delivering(self, claim: Claim) -> AbstractContextManager[object]:  # noqa: ARG002 - no span
        return nullcontext()

    def delivered(self, provider_id: str, outcome: str) -> None: ...

    def limiter_waited(self, provider_id: str, seconds: float) -> None: ...

    def in_flight(self, provider_id: str, delta: int) -> None: ...

    def breaker(self, provider_id: str, state: BreakerState) -> None: ...

    def queue(self, stats: QueueStats) -> None: ...

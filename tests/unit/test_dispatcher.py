"""The dispatcher on in-memory fakes: routing, retries, the breaker, crashes and shutdown."""

import asyncio
from dataclasses import dataclass, field

import pytest

from order_service.application.dispatch import Dispatcher, DispatchPolicy
from order_service.application.order_ports import Delivery, Outcome, Slot
from order_service.domain.orders import Order, OrderStatus
from order_service.domain.providers import Provider
from tests.fakes.orders import (
    InMemoryOrderStore,
    ScriptedProvider,
    UnlimitedRateLimiter,
    accepted_order,
)
from tests.fakes.users import FakeClock, FakeMonotonic
from tests.unit.test_order_domain import provider

CHEAP = provider("cheap", cost=1)
DEAR = provider("dear", cost=2)
UNKNOWN = Delivery(Outcome.UNKNOWN, "no answer within 1s")
THROTTLED = Delivery(Outcome.THROTTLED, "HTTP 429", retry_after=2.0)
REFUSED = Delivery(Outcome.NOT_APPLIED, "cannot connect: ConnectError")


@dataclass
class Rig:
    store: InMemoryOrderStore
    clock: FakeMonotonic
    client: ScriptedProvider
    dispatcher: Dispatcher

    async def add(self, region: str = "eu") -> Order:
        order = accepted_order(region=region, created_at=FakeClock().now)
        await self.store.add(order)
        return order

    def order(self, order: Order) -> Order:
        return self.store.orders[order.id]

    def keys_sent(self) -> list[str]:
        return [pid for pid, _ in self.client.sent]


def rig(
    script: dict[str, list[Delivery]] | None = None,
    *,
    providers: tuple[Provider, ...] = (CHEAP, DEAR),
    limiter: object = None,
    workers: int = 4,
    clock: FakeMonotonic | None = None,
    **policy: float,
) -> Rig:
    clock = clock or FakeMonotonic()
    store = InMemoryOrderStore(clock)
    client = ScriptedProvider(script or {})
    settings = {
        "workers": workers,
        "lease_seconds": 30.0,
        "poll_seconds": 0.01,
        "max_attempts": 4,
        "backoff_base_seconds": 1.0,
        "backoff_cap_seconds": 8.0,
        "breaker_failure_threshold": 2,
        "breaker_reset_seconds": 10.0,
        **policy,
    }
    dispatcher = Dispatcher(
        outbox=store,
        providers=providers,
        client=client,
        limiter=limiter or UnlimitedRateLimiter(),  # type: ignore[arg-type]
        policy=DispatchPolicy(**settings),  # type: ignore[arg-type]
        clock=FakeClock(),
        monotonic=clock,
        rand=lambda: 0.5,
    )
    return Rig(store, clock, client, dispatcher)


async def test_an_order_goes_to_the_cheapest_provider_and_is_confirmed() -> None:
    r = rig()
    order = await r.add()
    assert await r.dispatcher.run_once() == 1
    done = r.order(order)
    assert (done.status, done.provider_id, done.attempts) == (OrderStatus.CONFIRMED, "cheap", 1)
    assert done.provider_ref == f"cheap:{order.id}"
    assert r.client.sent == [("cheap", str(order.id))]
    assert r.store.outbox == {}


async def test_an_order_no_provider_covers_is_unroutable_and_never_sent() -> None:
    r = rig()
    order = await r.add(region="mars")
    await r.dispatcher.run_once()
    assert r.order(order).status is OrderStatus.UNROUTABLE
    assert r.order(order).reason == "no provider covers region mars with SKUs sku-1"
    assert r.client.sent == []
    assert r.store.outbox == {}


async def test_a_throttled_attempt_waits_at_least_retry_after() -> None:
    r = rig({"cheap": [THROTTLED]})
    order = await r.add()
    await r.dispatcher.run_once()
    assert r.order(order).status is OrderStatus.ROUTED
    assert r.order(order).reason == "HTTP 429"
    r.clock.advance(1.9)
    assert await r.dispatcher.run_once() == 0
    r.clock.advance(0.1)
    assert await r.dispatcher.run_once() == 1
    assert r.order(order).status is OrderStatus.CONFIRMED
    assert r.keys_sent() == ["cheap", "cheap"]


async def test_when_the_breaker_opens_orders_route_to_the_next_provider() -> None:
    r = rig({"cheap": [REFUSED, REFUSED]})
    first, second = await r.add(), await r.add()
    await r.dispatcher.run_once()  # both fail at "cheap"; two failures open its circuit
    assert r.dispatcher.breakers["cheap"].allows() is False
    r.clock.advance(8)  # past any backoff, before the circuit half-opens
    await r.dispatcher.run_once()
    for order in (first, second):
        assert r.order(order).status is OrderStatus.CONFIRMED
        assert r.order(order).provider_id == "dear"
    assert sorted(r.keys_sent()) == ["cheap", "cheap", "dear", "dear"]


async def test_an_attempt_with_unknown_effect_is_retried_only_at_the_same_provider() -> None:
    r = rig({"cheap": [UNKNOWN, UNKNOWN]})
    order = await r.add()
    await r.dispatcher.run_once()
    r.clock.advance(8)
    await r.dispatcher.run_once()  # second unknown: the circuit of "cheap" opens
    assert r.order(order).status is OrderStatus.DISPATCHED
    r.clock.advance(8)
    await r.dispatcher.run_once()  # circuit open: the pinned order waits, it does not move
    assert r.keys_sent() == ["cheap", "cheap"]
    r.clock.advance(10)
    await r.dispatcher.run_once()  # the half-open probe
    assert r.keys_sent() == ["cheap", "cheap", "cheap"]
    assert r.order(order).status is OrderStatus.CONFIRMED
    assert r.order(order).attempts == 3


async def test_after_the_last_attempt_the_order_fails_with_the_reason() -> None:
    r = rig({"cheap": [UNKNOWN] * 3}, max_attempts=3, breaker_failure_threshold=10)
    order = await r.add()
    for _ in range(3):
        await r.dispatcher.run_once()
        r.clock.advance(8)
    failed = r.order(order)
    assert failed.status is OrderStatus.FAILED
    assert failed.reason == "gave up after 3 attempts; last: no answer within 1s"
    assert r.store.outbox == {}


async def test_a_permanent_rejection_fails_the_order_at_once() -> None:
    r = rig({"cheap": [Delivery(Outcome.REJECTED, "HTTP 422: unknown SKU")]})
    order = await r.add()
    await r.dispatcher.run_once()
    assert r.order(order).status is OrderStatus.FAILED
    assert r.order(order).reason == "provider cheap rejected the order: HTTP 422: unknown SKU"


async def test_a_crashed_delivery_is_resent_to_the_same_provider_with_the_same_key() -> None:
    r = rig()
    order = await r.add()
    # A worker claimed, routed to "dear" and recorded the attempt, then died before an answer.
    [claim] = await r.store.claim(limit=1, lease_seconds=30)
    await r.store.save(claim, order.routed("dear", order.created_at).dispatched(order.created_at))
    assert await r.dispatcher.run_once() == 0  # still leased
    r.clock.advance(30)
    await r.dispatcher.run_once()
    assert r.client.sent == [("dear", str(order.id))]  # not the cheaper "cheap"
    assert r.order(order).status is OrderStatus.CONFIRMED
    assert r.order(order).attempts == 2


@dataclass
class SlowLimiter:
    wait: float
    asked: list[str] = field(default_factory=list)

    async def reserve(self, provider: Provider, *, max_wait: float) -> Slot:
        self.asked.append(provider.id)
        return Slot(wait=self.wait, granted=self.wait <= max_wait)


async def test_no_slot_soon_enough_puts_the_order_back_without_an_attempt() -> None:
    r = rig(limiter=SlowLimiter(wait=5.0))
    order = await r.add()
    await r.dispatcher.run_once()
    assert r.order(order).status is OrderStatus.ROUTED
    assert r.order(order).attempts == 0
    assert r.client.sent == []
    r.clock.advance(4.9)
    assert await r.dispatcher.run_once() == 0
    r.clock.advance(0.1)
    assert await r.dispatcher.run_once() == 1


@dataclass
class GatedProvider:
    """Holds every delivery until the gate opens."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[str] = field(default_factory=list)

    async def submit(self, provider: Provider, order: Order) -> Delivery:  # noqa: ARG002 - one provider
        self.sent.append(order.delivery_key)
        self.started.set()
        await self.gate.wait()
        return Delivery(Outcome.CONFIRMED, "ok", provider_ref="ref")


def gated_dispatcher(store: InMemoryOrderStore, client: GatedProvider, workers: int) -> Dispatcher:
    return Dispatcher(
        outbox=store,
        providers=[CHEAP],
        client=client,
        limiter=UnlimitedRateLimiter(),
        policy=DispatchPolicy(workers=workers, poll_seconds=0.01),
        clock=FakeClock(),
    )


async def test_stop_lets_in_flight_deliveries_finish_and_gives_back_the_rest() -> None:
    store = InMemoryOrderStore(FakeMonotonic())
    client = GatedProvider()
    dispatcher = gated_dispatcher(store, client, workers=1)
    orders = [await rig().add() for _ in range(3)]
    for order in orders:
        await store.add(order)
    running = asyncio.create_task(dispatcher.run(grace_seconds=5))
    await client.started.wait()
    dispatcher.stop()
    client.gate.set()
    await running
    statuses = sorted(store.orders[o.id].status for o in orders)
    assert statuses == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED, OrderStatus.CONFIRMED]
    assert len(client.sent) == 1
    assert all(entry.lease_token is None for entry in store.outbox.values())


async def test_a_delivery_past_the_grace_period_is_cancelled_and_its_claim_released() -> None:
    store = InMemoryOrderStore(FakeMonotonic())
    client = GatedProvider()
    dispatcher = gated_dispatcher(store, client, workers=2)
    order = await rig().add()
    await store.add(order)
    running = asyncio.create_task(dispatcher.run(grace_seconds=0.01))
    await client.started.wait()
    dispatcher.stop()
    await running
    # The attempt was recorded before the send, so the next worker resends to the same provider.
    assert store.orders[order.id].status is OrderStatus.DISPATCHED
    assert store.outbox[order.id].lease_token is None
    assert (await store.claim(limit=1, lease_seconds=1))[0].order.id == order.id


def test_a_lease_shorter_than_a_delivery_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="lease"):
        rig(lease_seconds=2.0)


@dataclass
class StallingLimiter:
    """Grants every slot at once, but the first reply reaches us `stall` seconds late."""

    clock: FakeMonotonic
    stall: float
    asked: int = 0

    async def reserve(self, provider: Provider, *, max_wait: float) -> Slot:  # noqa: ARG002
        self.asked += 1
        if self.asked == 1:
            self.clock.advance(self.stall)
        return Slot(wait=0.0, granted=True)


async def test_a_slot_missed_by_a_stalled_process_is_forfeited_not_used_late() -> None:
    clock = FakeMonotonic()
    limiter = StallingLimiter(clock, stall=CHEAP.max_lateness + 0.01)
    r = rig(limiter=limiter, clock=clock)
    order = await r.add()
    await r.dispatcher.run_once()
    assert limiter.asked == 2
    assert r.client.sent == [("cheap", str(order.id))]
    assert r.order(order).status is OrderStatus.CONFIRMED

"""The dispatcher: N workers deliver claimed outbox entries to providers, politely and durably.

One claimer task leases at most as many entries as there are idle workers (the hand-off is
bounded by the worker count), and each worker delivers one order at a time:

  route (cheapest provider with a closed circuit) -> per-provider in-flight cap -> rate slot
  -> record the attempt (durable, before the send) -> send with a timeout -> record the outcome.

A failed attempt is not retried in place: the entry is made due again after a full-jitter
backoff, so the worker is free and a crash loses nothing. Delivery is at least once; the
provider dedupes by the order's delivery key.
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from order_service.application.order_ports import (
    Claim,
    Delivery,
    DispatchObserver,
    FulfilmentProvider,
    LeaseLost,
    NullDispatchObserver,
    OrderOutbox,
    Outcome,
    RateLimiter,
)
from order_service.application.ports import Clock
from order_service.domain.orders import Order, OrderStatus
from order_service.domain.providers import NoneAvailable, Provider, RouteTo, Unroutable, route
from order_service.domain.resilience import (
    CircuitBreaker,
    MonotonicClock,
    full_jitter_backoff,
)

_log = logging.getLogger(__name__)

_SLOT_TRIES = 3  # rate slots a delivery may miss (process stalls) before it is put back


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How hard the dispatcher works and how patiently it retries."""

    workers: int = 8
    lease_seconds: float = 30.0
    poll_seconds: float = 0.2
    max_attempts: int = 6
    max_claims: int = 50  # a poison-pill guard: an entry claimed this often is given up
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0
    limiter_max_wait_seconds: float = 1.0
    breaker_failure_threshold: int = 5
    breaker_reset_seconds: float = 10.0
    stats_seconds: float = 5.0

    def check(self, providers: Sequence[Provider]) -> None:
        """Raise ValueError when a claim could expire while its delivery is still running."""
        slowest = max((p.timeout_seconds for p in providers), default=0.0)
        needed = slowest + self.limiter_max_wait_seconds
        if self.lease_seconds <= needed * 1.5:
            raise ValueError(
                f"the outbox lease ({self.lease_seconds:g}s) must exceed 1.5 x the slowest "
                f"provider timeout plus the limiter wait ({needed:g}s)"
            )


class Dispatcher:
    """Runs until `stop()`; then stops claiming, finishes in-flight deliveries within the grace
    period and gives back every claim it has not started."""

    def __init__(
        self,
        *,
        outbox: OrderOutbox,
        providers: Sequence[Provider],
        client: FulfilmentProvider,
        limiter: RateLimiter,
        policy: DispatchPolicy,
        clock: Clock,
        monotonic: MonotonicClock = time.monotonic,
        observer: DispatchObserver | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        policy.check(providers)
        self._outbox = outbox
        self._providers = tuple(providers)
        self._by_id = {p.id: p for p in providers}
        self._client = client
        self._limiter = limiter
        self._policy = policy
        self._clock = clock
        self._monotonic = monotonic
        self._observer = observer or NullDispatchObserver()
        self._rand = rand
        self.breakers = {
            p.id: CircuitBreaker(
                failure_threshold=policy.breaker_failure_threshold,
                reset_timeout=policy.breaker_reset_seconds,
                clock=monotonic,
            )
            for p in providers
        }
        self._in_flight = {p.id: asyncio.Semaphore(p.max_in_flight) for p in providers}
        for provider in providers:
            # Every provider's series exist from the start: a dashboard shows 0, not "no data".
            self._observer.breaker(provider.id, self.breakers[provider.id].state)
            self._observer.in_flight(provider.id, 0)
        self._idle = policy.workers
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def nudge(self) -> None:
        """New work was written: claim now instead of at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim one batch (up to `workers` entries), deliver it, and return how many were claimed.

        For tests and one-shot draining; `run` is the long-lived loop.
        """
        claims = await self._outbox.claim(
            limit=self._policy.workers, lease_seconds=self._policy.lease_seconds
        )
        async with asyncio.TaskGroup() as group:
            for claim in claims:
                group.create_task(self._deliver(claim))
        return len(claims)

    async def run(self, *, grace_seconds: float) -> None:
        queue: asyncio.Queue[Claim | None] = asyncio.Queue(maxsize=self._policy.workers)
        async with asyncio.TaskGroup() as group:
            workers = [
                group.create_task(self._work(queue), name=f"dispatch-worker-{n}")
                for n in range(self._policy.workers)
            ]
            stats = group.create_task(self._report_stats(), name="dispatch-stats")
            await self._claim_until_stopped(queue)
            leftovers: list[Claim] = []
            while not queue.empty():
                item = queue.get_nowait()
                if item is not None:
                    leftovers.append(item)
            await self._release(leftovers)
            for _ in workers:
                queue.put_nowait(None)
            _, pending = await asyncio.wait(workers, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            stats.cancel()
        _log.info(
            "dispatcher stopped",
            extra={"released": len(leftovers), "cancelled_in_flight": len(pending)},
        )

    async def _claim_until_stopped(self, queue: "asyncio.Queue[Claim | None]") -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            claims: list[Claim] = []
            if self._idle > 0:
                started = time.perf_counter()
                try:
                    claims = await self._outbox.claim(
                        limit=self._idle, lease_seconds=self._policy.lease_seconds
                    )
                except Exception:  # noqa: BLE001 - a store outage must not kill the dispatcher
                    _log.warning("claiming from the outbox failed", exc_info=True)
                else:
                    self._observer.claimed(claims, time.perf_counter() - started)
                for claim in claims:
                    self._idle -= 1
                    queue.put_nowait(claim)
            if self._stopped.is_set():
                return
            if not claims or self._idle == 0:
                try:
                    async with asyncio.timeout(self._policy.poll_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def _work(self, queue: "asyncio.Queue[Claim | None]") -> None:
        while (claim := await queue.get()) is not None:
            try:
                await self._deliver(claim)
            except LeaseLost:
                _log.warning("lease lost; another worker owns the order", extra=_ids(claim.order))
            except asyncio.CancelledError:
                # Past the grace period: hand the entry back now rather than at lease expiry.
                await asyncio.shield(self._release([claim]))
                raise
            except Exception:  # noqa: BLE001 - one bad order must not stop the worker
                _log.exception("delivery crashed; the entry is retried after its lease")
            finally:
                self._idle += 1
                self._wake.set()

    async def _release(self, claims: Sequence[Claim]) -> None:
        if not claims:
            return
        try:
            await self._outbox.release(claims)
        except Exception:  # noqa: BLE001 - their leases expire anyway
            _log.warning("releasing claims failed; they return when their leases expire")

    async def _deliver(self, claim: Claim) -> None:
        with self._observer.delivering(claim):
            await self._deliver_claim(claim)

    async def _deliver_claim(self, claim: Claim) -> None:
        order = claim.order
        if order.is_terminal:
            await self._outbox.finish(claim, order)
            return
        if claim.claims > self._policy.max_claims:
            await self._fail(claim, order, f"given up after {claim.claims - 1} claims")
            return
        provider = await self._choose(claim, order)
        if provider is None:
            return
        if order.status is not OrderStatus.DISPATCHED and order.provider_id != provider.id:
            order = order.routed(provider.id, self._clock())
            _log.info("order routed", extra={**_ids(order), "provider": provider.id})
        await self._attempt(claim, order, provider)

    async def _choose(self, claim: Claim, order: Order) -> Provider | None:
        """The provider for this attempt, or None when the claim was already settled."""
        if order.status is OrderStatus.DISPATCHED:
            # The last attempt's effect is unknown: only the same provider may be asked again,
            # with the same key, or the order could be fulfilled twice.
            pinned = self._by_id.get(order.provider_id or "")
            if pinned is None:
                await self._fail(claim, order, f"provider {order.provider_id} is not configured")
                return None
            return pinned
        unavailable = {p.id for p in self._providers if not self.breakers[p.id].allows()}
        match route(order, self._providers, unavailable):
            case RouteTo(provider):
                return provider
            case Unroutable(reason):
                unroutable = order.unroutable(reason, self._clock())
                await self._outbox.finish(claim, unroutable)
                _log.info("order unroutable", extra={**_ids(unroutable), "reason": reason})
                return None
            case NoneAvailable(reason):
                wait = min(self.breakers[p].retry_in for p in unavailable)
                await self._later(claim, order.with_reason(reason, self._clock()), wait)
                return None

    async def _attempt(self, claim: Claim, order: Order, provider: Provider) -> None:
        breaker = self.breakers[provider.id]
        async with self._in_flight[provider.id]:
            if not breaker.try_acquire():
                reason = f"circuit of provider {provider.id} is open"
                await self._later(claim, order.with_reason(reason, self._clock()), breaker.retry_in)
                return
            self._observer.in_flight(provider.id, 1)
            try:
                sent = await self._send(claim, order, provider)
            except BaseException:
                breaker.abandon()
                raise
            finally:
                self._observer.in_flight(provider.id, -1)
        if sent is None:
            breaker.abandon()
            return
        attempted, delivery = sent
        before = breaker.state
        if delivery.outcome in {Outcome.CONFIRMED, Outcome.THROTTLED, Outcome.REJECTED}:
            breaker.record_success()  # the provider answered: it is up
        else:
            breaker.record_failure()
        if breaker.state is not before:
            self._observer.breaker(provider.id, breaker.state)
            _log.warning(
                "circuit breaker changed",
                extra={"provider": provider.id, "from": before, "to": breaker.state},
            )
        self._observer.delivered(provider.id, delivery.outcome)
        await self._settle(claim, attempted, provider, delivery)

    async def _send(
        self, claim: Claim, order: Order, provider: Provider
    ) -> tuple[Order, Delivery] | None:
        """One attempt: recorded (durably, before the send), then a rate slot, then the send.

        None: no slot within the limiter's max wait; the attempt never happened and the order
        is put back as it was. The slot is reserved after the database write so that nothing
        slow sits between the slot and the send: lateness bunches requests at the provider.
        """
        attempted = order.dispatched(self._clock())
        await self._outbox.save(claim, attempted)
        for _ in range(_SLOT_TRIES):
            asked = self._monotonic()
            slot = await self._limiter.reserve(
                provider, max_wait=self._policy.limiter_max_wait_seconds
            )
            send_at = self._monotonic() + slot.wait
            if not slot.granted:
                await self._later(claim, order, slot.wait)
                return None
            self._observer.limiter_waited(provider.id, slot.wait)
            delay = send_at - self._monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # How late we may be, at most: the reply's round trip plus oversleeping.
            late = (send_at - slot.wait - asked) + (self._monotonic() - send_at)
            if late <= provider.max_lateness:
                break
            # A stalled process must not send on a slot long gone: it would arrive bunched
            # with the sends of the slots after it. The missed slot is forfeited (unused
            # capacity, never a violation) and a fresh one reserved.
            _log.info(
                "rate slot missed; reserving another",
                extra={"provider": provider.id, "late_ms": round(late * 1000, 1)},
            )
        else:
            await self._later(claim, order, 0.0)
            return None
        _log.info(
            "order dispatched",
            extra={**_ids(attempted), "provider": provider.id, "attempt": attempted.attempts},
        )
        return attempted, await self._client.submit(provider, attempted)

    async def _settle(
        self, claim: Claim, order: Order, provider: Provider, delivery: Delivery
    ) -> None:
        now = self._clock()
        log = {**_ids(order), "provider": provider.id, "outcome": delivery.outcome}
        match delivery.outcome:
            case Outcome.CONFIRMED:
                confirmed = order.confirmed(delivery.provider_ref or "", now)
                await self._outbox.finish(claim, confirmed)
                _log.info("order confirmed", extra=log)
                return
            case Outcome.REJECTED:
                reason = f"provider {provider.id} rejected the order: {delivery.detail}"
                await self._fail(claim, order, reason)
                return
            case Outcome.THROTTLED | Outcome.NOT_APPLIED:
                order = order.not_applied(delivery.detail, now)
            case Outcome.UNKNOWN:
                order = order.with_reason(delivery.detail, now)
        if order.attempts >= self._policy.max_attempts:
            await self._fail(
                claim,
                order,
                f"gave up after {order.attempts} attempts; last: {delivery.detail}",
            )
            return
        delay = full_jitter_backoff(
            order.attempts,
            base=self._policy.backoff_base_seconds,
            cap=self._policy.backoff_cap_seconds,
            retry_after=delivery.retry_after,
            rand=self._rand,
        )
        _log.info("delivery will be retried", extra={**log, "delay_s": round(delay, 3)})
        await self._later(claim, order, delay)

    async def _later(self, claim: Claim, order: Order, delay: float) -> None:
        # A floor, so an entry that cannot go now is not reclaimed in a tight loop.
        floor = self._policy.poll_seconds
        await self._outbox.retry_later(claim, order, delay_seconds=max(delay, floor))

    async def _fail(self, claim: Claim, order: Order, reason: str) -> None:
        failed = order.failed(reason, self._clock())
        await self._outbox.finish(claim, failed)
        _log.warning("order failed", extra={**_ids(failed), "reason": reason})

    async def _report_stats(self) -> None:
        while True:
            try:
                self._observer.queue(await self._outbox.stats())
            except Exception:  # noqa: BLE001 - metrics must not stop dispatch
                _log.debug("reading queue stats failed", exc_info=True)
            await asyncio.sleep(self._policy.stats_seconds)


def _ids(order: Order) -> dict[str, object]:
    return {"order_id": str(order.id), "status": str(order.status), "attempts": order.attempts}

"""Fulfilment providers and the routing rule that picks one for an order."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from order_service.domain.orders import Order

ANY = "*"


@dataclass(frozen=True, slots=True)
class Provider:
    """A fulfilment provider as configured: what it covers, what it costs, how hard to call it.

    `regions` and `skus` may hold "*" to mean every region or every SKU. `rate_per_second` and
    `burst` are the provider's declared limit; `max_in_flight` caps concurrent requests to it
    from one worker process; `timeout_seconds` bounds each attempt.
    """

    id: str
    endpoint: str
    regions: frozenset[str]
    skus: frozenset[str]
    cost: float
    rate_per_second: float
    burst: int
    max_in_flight: int
    timeout_seconds: float

    @property
    def send_burst(self) -> int:
        """The burst our limiter uses: none. We send at most one request per 1/rate seconds.

        The provider measures arrivals, which scheduling and network jitter bunch together
        (a busy event loop wakes several sleeping senders at once). The whole declared burst
        is left to absorb that: (burst - 1) / rate seconds of jitter, 180 ms for 50/s with a
        burst of 10. Using half of it left 100 ms, and a loaded 2-core machine exceeded that.
        """
        return 1

    @property
    def max_lateness(self) -> float:
        """How late after its rate slot a request may still go: half the jitter budget.

        The other half is left to the network and to the provider's own measurement.
        """
        return (self.burst - self.send_burst) / self.rate_per_second / 2

    def covers(self, region: str, skus: Collection[str]) -> bool:
        region_ok = ANY in self.regions or region in self.regions
        return region_ok and (ANY in self.skus or all(sku in self.skus for sku in skus))


@dataclass(frozen=True, slots=True)
class RouteTo:
    provider: Provider


@dataclass(frozen=True, slots=True)
class Unroutable:
    """No configured provider covers the order: a permanent outcome."""

    reason: str


@dataclass(frozen=True, slots=True)
class NoneAvailable:
    """Providers cover the order but none can take it now (open circuits): try again later."""

    reason: str


RoutingDecision = RouteTo | Unroutable | NoneAvailable


def route(
    order: Order, providers: Sequence[Provider], unavailable: Collection[str]
) -> RoutingDecision:
    """Among providers covering the region and every SKU, the cheapest not in `unavailable`.

    Ties on cost go to the provider listed first in the configuration, so routing is stable.
    """
    covering = [p for p in providers if p.covers(order.region, order.skus)]
    if not covering:
        skus = ", ".join(sorted(order.skus))
        return Unroutable(f"no provider covers region {order.region} with SKUs {skus}")
    available = [p for p in covering if p.id not in unavailable]
    if not available:
        ids = ", ".join(p.id for p in covering)
        return NoneAvailable(f"every provider covering the order is unavailable ({ids})")
    return RouteTo(min(available, key=lambda p: p.cost))

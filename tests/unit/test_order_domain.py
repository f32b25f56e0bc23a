"""Orders: the state machine, the routing rule, and the input rules."""

import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest

from order_service.domain.errors import InvalidInput
from order_service.domain.orders import (
    InvalidTransition,
    LineItem,
    Order,
    OrderStatus,
    check_items,
    request_fingerprint,
)
from order_service.domain.providers import NoneAvailable, Provider, RouteTo, Unroutable, route

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def order(*skus: str, region: str = "eu", status: OrderStatus = OrderStatus.ACCEPTED) -> Order:
    return Order(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        items=tuple(LineItem(sku, 1) for sku in skus or ("a",)),
        region=region,
        idempotency_key="k",
        fingerprint="f",
        status=status,
        created_at=T0,
        updated_at=T0,
    )


def provider(
    pid: str, *, regions: str = "eu", skus: str = "*", cost: float = 1.0, burst: int = 4
) -> Provider:
    return Provider(
        id=pid,
        endpoint=f"http://{pid}",
        regions=frozenset(regions.split(",")),
        skus=frozenset(skus.split(",")),
        cost=cost,
        rate_per_second=10,
        burst=burst,
        max_in_flight=4,
        timeout_seconds=1,
    )


CHEAP_EU = provider("cheap-eu", cost=1)
DEAR_EU = provider("dear-eu", cost=5)
SKU_A_ONLY = provider("a-only", skus="a", cost=0.5)
US = provider("us", regions="us", cost=0.1)
EVERYWHERE = provider("everywhere", regions="*", cost=9)
TIE = provider("tie", cost=1)


@pytest.mark.parametrize(
    ("case", "the_order", "providers", "open_circuits", "expected"),
    [
        ("cheapest covering wins", order("a"), [DEAR_EU, CHEAP_EU], set(), "cheap-eu"),
        (
            "a cheaper provider lacking a SKU loses",
            order("a", "b"),
            [SKU_A_ONLY, DEAR_EU],
            set(),
            "dear-eu",
        ),
        (
            "a provider with every SKU listed covers",
            order("a"),
            [SKU_A_ONLY, CHEAP_EU],
            set(),
            "a-only",
        ),
        ("the region must match", order("a", region="us"), [CHEAP_EU, US], set(), "us"),
        (
            "a wildcard region covers any",
            order("a", region="jp"),
            [CHEAP_EU, EVERYWHERE],
            set(),
            "everywhere",
        ),
        ("an open circuit is skipped", order("a"), [CHEAP_EU, DEAR_EU], {"cheap-eu"}, "dear-eu"),
        ("ties go to the first listed", order("a"), [CHEAP_EU, TIE], set(), "cheap-eu"),
        ("nobody covers the region", order("a", region="mars"), [CHEAP_EU, US], set(), Unroutable),
        ("nobody has the SKU", order("b"), [SKU_A_ONLY], set(), Unroutable),
        ("no providers at all", order("a"), [], set(), Unroutable),
        ("every covering circuit open", order("a"), [CHEAP_EU, US], {"cheap-eu"}, NoneAvailable),
    ],
)
def test_routing_table(
    case: str,
    the_order: Order,
    providers: list[Provider],
    open_circuits: set[str],
    expected: object,
) -> None:
    decision = route(the_order, providers, open_circuits)
    if isinstance(expected, str):
        assert isinstance(decision, RouteTo), case
        assert decision.provider.id == expected, case
    else:
        assert isinstance(decision, expected), case  # type: ignore[arg-type]


def test_unroutable_reason_names_the_region_and_skus() -> None:
    decision = route(order("b", "a", region="mars"), [CHEAP_EU], set())
    assert isinstance(decision, Unroutable)
    assert decision.reason == "no provider covers region mars with SKUs a, b"


def test_an_order_walks_the_happy_path() -> None:
    confirmed = order().routed("p", T0).dispatched(T0).confirmed("ref", T0)
    assert confirmed.status is OrderStatus.CONFIRMED
    assert (confirmed.provider_id, confirmed.provider_ref, confirmed.attempts) == ("p", "ref", 1)
    assert confirmed.is_terminal


@pytest.mark.parametrize(
    ("start", "step"),
    [
        (OrderStatus.ACCEPTED, lambda o: o.dispatched(T0)),  # no provider yet
        (OrderStatus.ACCEPTED, lambda o: o.confirmed("r", T0)),
        (OrderStatus.ROUTED, lambda o: o.confirmed("r", T0)),
        (OrderStatus.CONFIRMED, lambda o: o.failed("x", T0)),
        (OrderStatus.UNROUTABLE, lambda o: o.routed("p", T0)),
        (OrderStatus.CONFIRMED, lambda o: o.retried(T0)),
        (OrderStatus.ROUTED, lambda o: o.not_applied("x", T0)),
        (OrderStatus.DISPATCHED, lambda o: o.unroutable("x", T0)),
    ],
)
def test_illegal_transitions_are_refused(start: OrderStatus, step: object) -> None:
    with pytest.raises(InvalidTransition):
        step(order(status=start))  # type: ignore[operator]


def test_a_definite_refusal_frees_the_order_to_be_rerouted() -> None:
    dispatched = order().routed("p", T0).dispatched(T0)
    freed = dispatched.not_applied("HTTP 429", T0)
    assert freed.status is OrderStatus.ROUTED
    assert freed.routed("q", T0).provider_id == "q"
    assert freed.reason == "HTTP 429"


def test_a_retried_failed_order_starts_over() -> None:
    failed = order().routed("p", T0).dispatched(T0).failed("gave up", T0)
    retried = failed.retried(T0)
    assert (retried.status, retried.attempts, retried.reason, retried.provider_id) == (
        OrderStatus.ACCEPTED,
        0,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([LineItem("a", 0)], "items[0].quantity"),
        ([LineItem("a", 10_001)], "items[0].quantity"),
        ([LineItem("a b", 1)], "items[0].sku"),
        ([LineItem("a", 1), LineItem("a", 2)], "items[1].sku"),
    ],
)
def test_bad_line_items_name_the_field(items: list[LineItem], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_items(items)
    assert raised.value.field == field


def test_the_fingerprint_tells_bodies_apart() -> None:
    one = request_fingerprint([LineItem("a", 1)], "eu")
    assert one == request_fingerprint([LineItem("a", 1)], "eu")
    assert one != request_fingerprint([LineItem("a", 2)], "eu")
    assert one != request_fingerprint([LineItem("a", 1)], "us")


@pytest.mark.parametrize(
    ("items", "region"),
    [
        ([LineItem("SKU-001", 1)], "eu"),
        ([LineItem("a", 10_000), LineItem("b.c_d-E", 2)], "eu-west"),
        ([LineItem('quo"te', 1), LineItem("back\\slash", 3)], "eu"),  # not codes: escaped
        ([LineItem("sku", 1)], "ré gion"),
        ([LineItem("sku", quantity=True)], "eu"),  # a bool is JSON's true, not 1
    ],
)
def test_the_fingerprint_is_the_digest_of_the_requests_compact_json(
    items: list[LineItem], region: str
) -> None:
    """Stored with every order: a replay after an upgrade must still match its order."""
    canonical = json.dumps(
        {"items": [[item.sku, item.quantity] for item in items], "region": region},
        separators=(",", ":"),
    )
    assert request_fingerprint(items, region) == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_limiter_leaves_the_declared_burst_to_absorb_jitter() -> None:
    assert provider("p", burst=10).send_burst == 1

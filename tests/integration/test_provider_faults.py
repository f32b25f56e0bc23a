"""Provider faults against real simulator processes, with the dispatcher in-process on SQLite:
429s, 5xx, timeouts and a provider that is down. No order is lost or applied twice."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from order_service.adapters.memory.rate_limiter import InProcessRateLimiter
from order_service.adapters.migrations import migrate
from order_service.adapters.providers.http_client import HttpFulfilmentProvider
from order_service.adapters.sqlite.database import open_sqlite
from order_service.adapters.sqlite.order_outbox import SqliteOrderOutbox
from order_service.adapters.sqlite.order_repository import SqliteOrderDb, SqliteOrderRepository
from order_service.application.dispatch import Dispatcher, DispatchPolicy
from order_service.domain.orders import Order, OrderStatus
from order_service.domain.providers import Provider
from order_service.domain.resilience import BreakerState
from tests.fakes.orders import accepted_order
from tests.integration.order_processes import running_simulator
from tests.service_process import free_port


def a_provider(
    pid: str, endpoint: str, *, cost: float = 1.0, rate: float = 200, timeout: float = 1.0
) -> Provider:
    return Provider(
        id=pid,
        endpoint=endpoint,
        regions=frozenset({"*"}),
        skus=frozenset({"*"}),
        cost=cost,
        rate_per_second=rate,
        burst=20,
        max_in_flight=8,
        timeout_seconds=timeout,
    )


@asynccontextmanager
async def dispatching(
    tmp_path: Path, providers: Sequence[Provider], orders: int, **policy: float
) -> AsyncIterator[tuple[SqliteOrderRepository, Dispatcher, list[uuid.UUID]]]:
    """Add `orders` orders, run a dispatcher over them, stop it on exit."""
    path = tmp_path / "orders.db"
    await asyncio.to_thread(migrate, f"sqlite:///{path}")
    settings = {
        "workers": 8,
        "lease_seconds": 10.0,
        "poll_seconds": 0.02,
        "max_attempts": 3,
        "backoff_base_seconds": 0.05,
        "backoff_cap_seconds": 0.2,
        "breaker_failure_threshold": 3,
        "breaker_reset_seconds": 30.0,
        **policy,
    }
    async with open_sqlite(path) as connection, httpx.AsyncClient() as client:
        db = SqliteOrderDb(connection)
        repository = SqliteOrderRepository(db)
        ids = []
        for _ in range(orders):
            order = accepted_order()
            await repository.add(order)
            ids.append(order.id)
        dispatcher = Dispatcher(
            outbox=SqliteOrderOutbox(db),
            providers=providers,
            client=HttpFulfilmentProvider(client),
            limiter=InProcessRateLimiter(),
            policy=DispatchPolicy(**settings),  # type: ignore[arg-type]
            clock=lambda: datetime.now(UTC),
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(dispatcher.run(grace_seconds=5))
            try:
                yield repository, dispatcher, ids
            finally:
                dispatcher.stop()


async def settled(repository: SqliteOrderRepository, ids: list[uuid.UUID]) -> list[Order]:
    """Every order, once none is still moving (polling the store the dispatcher writes)."""
    async with asyncio.timeout(60):
        while True:
            orders = [await repository.get(order_id) for order_id in ids]
            if all(o is not None and o.is_terminal for o in orders):
                return [o for o in orders if o is not None]
            await asyncio.sleep(0.05)


async def test_a_provider_that_is_down_trips_its_breaker_and_orders_go_to_the_next(
    tmp_path: Path,
) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}/providers/down"
    with running_simulator(tmp_path / "sim", "--rate", "0", "--latency-ms", "1:2") as simulator:
        providers = [
            a_provider("down", nothing_listens, cost=1),
            a_provider("steady", simulator.endpoint("steady"), cost=2),
        ]
        async with dispatching(tmp_path, providers, 20, max_attempts=6) as (repo, dispatcher, ids):
            orders = await settled(repo, ids)
            assert dispatcher.breakers["down"].state is BreakerState.OPEN
        stats = simulator.stats()
    assert {(o.status, o.provider_id) for o in orders} == {(OrderStatus.CONFIRMED, "steady")}
    assert stats["providers"]["steady"]["applied"] == 20
    assert stats["duplicate_effects"] == 0


async def test_429s_are_retried_after_retry_after_until_every_order_is_confirmed(
    tmp_path: Path,
) -> None:
    # The provider enforces 10/s while we were told 200/s: it answers 429 with Retry-After.
    with running_simulator(
        tmp_path / "sim", "--rate", "10", "--burst", "2", "--latency-ms", "1:2"
    ) as simulator:
        providers = [a_provider("strict", simulator.endpoint("strict"), rate=200)]
        async with dispatching(tmp_path, providers, 10, max_attempts=10) as (repo, _, ids):
            orders = await settled(repo, ids)
        stats = simulator.stats()["providers"]["strict"]
    assert {o.status for o in orders} == {OrderStatus.CONFIRMED}
    assert stats["rate_limit_violations"] > 0
    assert stats["applied"] == 10
    assert max(o.attempts for o in orders) > 1


async def test_5xx_and_timeouts_are_retried_at_the_same_provider_without_a_duplicate_effect(
    tmp_path: Path,
) -> None:
    with running_simulator(
        tmp_path / "sim",
        "--rate", "0",
        "--latency-ms", "1:3",
        "--error-rate", "0.3",
        "--timeout-rate", "0.2",
        "--hang-seconds", "2",
        "--seed", "7",
    ) as simulator:  # fmt: skip
        providers = [
            a_provider("flaky", simulator.endpoint("flaky"), cost=1, timeout=0.3),
            a_provider("spare", simulator.endpoint("spare"), cost=2, timeout=0.3),
        ]
        policy = {"max_attempts": 12, "breaker_failure_threshold": 1000}
        async with dispatching(tmp_path, providers, 20, **policy) as (repo, _, ids):
            orders = await settled(repo, ids)
        stats = simulator.stats()
    assert {o.status for o in orders} == {OrderStatus.CONFIRMED}
    flaky = stats["providers"]["flaky"]
    assert flaky["errors"] > 0
    assert flaky["timeouts"] > 0
    # A timed-out attempt may have been applied: it is retried at the same provider, which
    # answers the redelivery from its dedupe store; nothing reached the spare provider.
    assert flaky["applied"] == 20
    assert flaky["redeliveries"] >= flaky["timeouts"] - 1
    assert "spare" not in stats["providers"]
    assert stats["duplicate_effects"] == 0


async def test_when_every_attempt_fails_the_order_fails_with_the_reason(tmp_path: Path) -> None:
    with running_simulator(tmp_path / "sim", "--down") as simulator:
        providers = [a_provider("broken", simulator.endpoint("broken"))]
        async with dispatching(
            tmp_path, providers, 5, max_attempts=2, breaker_failure_threshold=1000
        ) as (repo, _, ids):
            orders = await settled(repo, ids)
    assert {o.status for o in orders} == {OrderStatus.FAILED}
    assert {o.reason for o in orders} == {"gave up after 2 attempts; last: HTTP 503"}

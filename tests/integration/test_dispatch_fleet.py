"""The dispatcher as it runs in production: several `order-service worker` processes sharing
the PostgreSQL outbox and the Redis rate limiter, against provider simulator processes."""

import random
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import PostgresSchema
from tests.integration.order_processes import (
    add_orders,
    orders_by_id,
    provider_json,
    running_simulator,
    status_counts,
    wait_until,
    worker_env,
    worker_fleet,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LIMIT = 50.0
LOAD_SECONDS = 20.0


def _prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:ratelimit:"


def test_two_worker_processes_together_stay_under_the_provider_limit_and_near_it(
    tmp_path: Path, postgres_schema: PostgresSchema, redis_available: str
) -> None:
    # More orders than 20 s at the limit can deliver, so the queue never runs dry.
    add_orders(postgres_schema, int(LIMIT * LOAD_SECONDS * 1.3))
    with running_simulator(
        tmp_path / "sim", "--rate", str(LIMIT), "--burst", "10", "--latency-ms", "5:15"
    ) as simulator:
        provider = provider_json("acme", simulator.endpoint("acme"), rate=LIMIT, burst=10)
        env = worker_env(
            tmp_path / "workers",
            postgres_schema,
            [provider],
            redis_url=redis_available,
            rate_limiter_key_prefix=_prefix(),
            dispatch_workers=16,
            dispatch_poll_seconds=0.05,
        )
        with worker_fleet(tmp_path / "workers", env) as workers:
            workers.start()
            workers.start()
            assert wait_until(lambda: simulator.stats()["total"]["applied"] > 0, timeout=20)
            time.sleep(LOAD_SECONDS)  # the measured load window, not a synchronisation
            assert workers.terminate_all() == [0, 0], workers.logs()
        stats = simulator.stats()
    acme = stats["providers"]["acme"]
    assert acme["rate_limit_violations"] == 0, str(acme)
    achieved = (acme["applied"] - 1) / (acme["last_applied_at"] - acme["first_applied_at"])
    assert achieved >= 0.9 * LIMIT, f"{achieved:.1f}/s: {stats}"
    assert achieved <= LIMIT * 1.05
    # SIGTERM mid-stream: every order the provider applied is recorded as confirmed, once.
    counts = status_counts(postgres_schema)
    assert counts["confirmed"] == acme["applied"]
    assert acme["redeliveries"] == 0


def test_orders_survive_workers_killed_mid_delivery_without_a_duplicate_effect(
    tmp_path: Path, postgres_schema: PostgresSchema, redis_available: str
) -> None:
    order_ids = add_orders(postgres_schema, 1000)
    # Latency long enough that a busy worker always has requests in flight when it is killed;
    # a fleet-wide 100/s so that the flow lasts long enough for several kills.
    with running_simulator(tmp_path / "sim", "--rate", "0", "--latency-ms", "10:30") as simulator:
        provider = provider_json(
            "acme", simulator.endpoint("acme"), rate=100, burst=20, timeout=1.0
        )
        env = worker_env(
            tmp_path / "workers",
            postgres_schema,
            [provider],
            redis_url=redis_available,
            rate_limiter_key_prefix=_prefix(),
            dispatch_workers=16,
            dispatch_poll_seconds=0.05,
            dispatch_lease_seconds=3,
            dispatch_limiter_max_wait_seconds=0.5,
        )
        kills = 0
        chooser = random.Random(4)  # noqa: S311 - choosing victims, not secrets
        with worker_fleet(tmp_path / "workers", env) as workers:
            for _ in range(3):
                workers.start()
            deadline = time.monotonic() + 90
            while (confirmed := status_counts(postgres_schema).get("confirmed", 0)) < 1000:
                assert time.monotonic() < deadline, workers.logs()
                time.sleep(chooser.uniform(0.5, 1.0))  # a random moment to crash, by design
                delivering = workers.delivering()
                if kills < 6 and confirmed < 800 and delivering:
                    victim = chooser.choice(delivering)
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    kills += 1
                    workers.start()
            workers.terminate_all()
        stats = simulator.stats()
    assert kills >= 3, "the orders flowed faster than the test could crash workers"
    orders = orders_by_id(postgres_schema)
    assert {status for status, _, _ in orders.values()} == {"confirmed"}
    assert len({ref for _, ref, _ in orders.values()}) == len(order_ids)
    acme = stats["providers"]["acme"]
    assert acme["applied"] == len(order_ids), acme
    # Killed workers had sent orders whose answers they never recorded: those were delivered
    # again after their leases expired (at least once), and the provider applied each once.
    assert acme["redeliveries"] >= 1, acme
    assert stats["duplicate_effects"] == 0


def test_sigterm_mid_dispatch_finishes_in_flight_deliveries_and_sends_nothing_twice(
    tmp_path: Path, postgres_schema: PostgresSchema
) -> None:
    order_ids = add_orders(postgres_schema, 40)
    # Slow answers, so the worker has deliveries in flight when the signal comes.
    with running_simulator(tmp_path / "sim", "--rate", "0", "--latency-ms", "200:300") as simulator:
        provider = provider_json("acme", simulator.endpoint("acme"), rate=1000, burst=100)
        env = worker_env(
            tmp_path / "workers",
            postgres_schema,
            [provider],
            dispatch_workers=8,
            dispatch_poll_seconds=0.05,
        )
        with worker_fleet(tmp_path / "workers", env) as workers:
            first = workers.start()
            assert wait_until(lambda: simulator.stats()["total"]["received"] >= 10, timeout=30)
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=30) == 0, workers.logs()
            after_stop = status_counts(postgres_schema)
            applied_at_stop = simulator.stats()["total"]["applied"]
            workers.start()
            assert wait_until(
                lambda: status_counts(postgres_schema).get("confirmed", 0) == len(order_ids),
                timeout=60,
            ), workers.logs()
            workers.terminate_all()
        stats = simulator.stats()["providers"]["acme"]
    # Every delivery in flight at SIGTERM finished and was recorded; none was left dispatched.
    assert "dispatched" not in after_stop
    assert after_stop.get("confirmed") == applied_at_stop
    assert after_stop.get("confirmed", 0) < len(order_ids)
    assert stats["applied"] == len(order_ids)
    assert stats["redeliveries"] == 0

"""The benchmark's quick mode runs end to end and produces its table.

It asserts that the harness works (every stack answered, every run was measured, the files were
written), never how fast anything was: speed is read from `make bench`, as ratios.
"""

import json
from pathlib import Path

import pytest

from tests.bench.commands import run_bench_module

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]


def test_quick_benchmark_measures_every_stack_and_writes_the_table(
    tmp_path: Path, wrk: str, postgres_available: str, redis_available: str
) -> None:
    printed = run_bench_module("bench", "--quick", "--out", str(tmp_path), timeout=170)

    [json_file] = tmp_path.glob("*-quick.json")
    results = json.loads(json_file.read_text())
    users = results["scenarios"]["users"]
    assert set(users) == {"ceiling", "peer", "service"}
    for stack, data in users.items():
        median = data["median"]
        assert median["requests"] > 0, stack
        # The harness's requests are all valid: an error here is a broken harness or stack.
        assert median["errors"] == 0, (stack, data["runs"])
        assert median["p50_ms"] <= median["p99_ms"] <= median["p999_ms"], stack
        assert median["rss_mib"] > 0, stack
    paced = results["scenarios"]["users_paced"]
    assert set(paced) == {"ceiling", "service"}
    assert all(data["median"]["errors"] == 0 for data in paced.values())
    assert results["scenarios"]["token"]["service"]["median"]["requests"] > 0
    assert results["scenarios"]["orders_post"]["pgbench"]["median"]["rps"] > 0
    # POST /v1/orders answers 202 to bench/order-body.json, so both order scenarios run.
    for scenario in ("orders_post", "orders_get"):
        median = results["scenarios"][scenario]["service"]["median"]
        assert median["requests"] > 0, scenario
        assert median["errors"] == 0, (scenario, results["scenarios"][scenario]["service"])
    # Production sampling is what the service ran with, and the run says so.
    observability = results["meta"]["observability"]
    assert observability["ORDER_SERVICE_LOG_SAMPLE_RATE"] == "0.01"
    assert observability["OTEL_TRACES_SAMPLER"] == "traceidratio"
    assert observability["OTEL_TRACES_SAMPLER_ARG"] == "0.01"
    assert results["startup"]["median_seconds"] > 0

    table = (tmp_path / "latest-quick.md").read_text()
    assert "| scenario | stack | req/s |" in table
    for name in ("bare ASGI ceiling", "FastAPI peer", "order-service", "pgbench"):
        assert name in table
    assert "| scenario | stack | req/s |" in printed

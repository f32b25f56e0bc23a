"""The embedded default starts without loading the production parts' drivers and SDKs.

Importing asyncpg, redis (which pulls in the OpenTelemetry metrics SDK), the tracing SDK or
obstore costs start-up time that a SQLite-only process never uses, and pydantic (the settings
library before msgspec) or httpx without a dispatcher costs it every process (docs/performance.md,
"Start-up"). A fresh interpreter wires the embedded default and reports what it loaded.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service_process import run_cli, service_env

DRIVERS = {"asyncpg", "redis", "obstore", "pydantic", "pydantic_settings"}
SDKS = ("opentelemetry.sdk", "opentelemetry.exporter")

_WIRE_AND_REPORT = """
import asyncio, json, sys
import order_service.__main__  # as in `order-service serve` and its workers: the CLI first
from order_service.platform.config import load_settings
from order_service.bootstrap import wire

async def main():
    async with wire(load_settings(), dispatch=sys.argv[1] == "dispatch") as wiring:
        routes = len(wiring.routes)
    return routes

routes = asyncio.run(main())
loaded = sorted(name for name, module in sys.modules.items() if module is not None)
print(json.dumps({"routes": routes, "modules": loaded}))
"""


def _wire_and_report(tmp_path: Path, *, dispatch: bool) -> list[str]:
    """The modules a fresh interpreter has loaded once it has wired the embedded default."""
    env = service_env(tmp_path / "var")
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    run_cli("migrate", env=env)
    result = subprocess.run(
        [sys.executable, "-c", _WIRE_AND_REPORT, "dispatch" if dispatch else "api-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["routes"] > 0  # it really wired the app
    modules: list[str] = report["modules"]
    assert "aiosqlite" in modules
    return modules


@pytest.mark.parametrize("dispatch", [True, False], ids=["with-dispatcher", "api-only"])
def test_wiring_the_embedded_default_loads_no_production_driver(
    tmp_path: Path, dispatch: bool
) -> None:
    modules = _wire_and_report(tmp_path, dispatch=dispatch)
    loaded = [m for m in modules if m.split(".")[0] in DRIVERS or m.startswith(SDKS)]
    assert loaded == []


def test_the_dispatcher_does_not_load_the_http_clients_command_line_tool(tmp_path: Path) -> None:
    # httpx imports its CLI whenever click, rich and pygments are installed (the dev tooling).
    modules = _wire_and_report(tmp_path, dispatch=True)
    assert "httpx" in modules
    assert [m for m in modules if m.split(".")[0] in {"click", "rich", "pygments"}] == []


def test_an_api_replica_without_a_dispatcher_loads_no_http_client(tmp_path: Path) -> None:
    # ORDER_SERVICE_DISPATCH_IN_SERVE=false, as API replicas run beside `order-service worker`.
    modules = _wire_and_report(tmp_path, dispatch=False)
    assert [m for m in modules if m.split(".")[0] in {"httpx", "httpcore"}] == []

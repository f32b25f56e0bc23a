"""The embedded default starts without loading the production parts' drivers and SDKs.

Importing asyncpg, redis (which pulls in the OpenTelemetry metrics SDK), the tracing SDK or
obstore costs start-up time that a SQLite-only process never uses (docs/performance.md,
"Start-up"). A fresh interpreter wires the embedded default and reports what it loaded.
"""

import json
import subprocess
import sys
from pathlib import Path

from tests.service_process import run_cli, service_env

DRIVERS = {"asyncpg", "redis", "obstore"}
SDKS = ("opentelemetry.sdk", "opentelemetry.exporter")

_WIRE_AND_REPORT = """
import asyncio, json, sys
from order_service.platform.config import load_settings
from order_service.bootstrap import wire

async def main():
    async with wire(load_settings(), dispatch=True) as wiring:
        routes = len(wiring.routes)
    return routes

routes = asyncio.run(main())
print(json.dumps({"routes": routes, "modules": sorted(sys.modules)}))
"""


def test_wiring_the_embedded_default_loads_no_production_driver(tmp_path: Path) -> None:
    env = service_env(tmp_path / "var")
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    run_cli("migrate", env=env)
    result = subprocess.run(
        [sys.executable, "-c", _WIRE_AND_REPORT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    modules: list[str] = report["modules"]
    loaded = [m for m in modules if m.split(".")[0] in DRIVERS or m.startswith(SDKS)]
    assert report["routes"] > 0  # it really wired the app
    assert "aiosqlite" in modules
    assert loaded == []

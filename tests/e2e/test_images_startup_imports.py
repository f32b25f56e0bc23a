"""The serving process starts without Pillow's image modules: only render workers decode.

Importing PIL.Image, ImageCms and the codec costs ~0.08 s of start-up that a serving process
with render worker processes never uses (docs/images.md, "Start-up"). A fresh interpreter
wires the embedded default and reports what it loaded and which outputs the codec offers.
"""

import json
import subprocess
import sys
from pathlib import Path

from order_service.adapters.images.codec_values import available_outputs
from order_service.domain.images import ImageFormat
from tests.service_process import run_cli, service_env

_WIRE_AND_REPORT = """
import asyncio, json, sys
from order_service.platform.config import load_settings
from order_service.bootstrap import wire

async def main():
    async with wire(load_settings(), dispatch=True) as wiring:
        return len(wiring.routes)

routes = asyncio.run(main())
print(json.dumps({"routes": routes, "modules": sorted(sys.modules)}))
"""

_PILLOW_SAYS = """
import json
from PIL import features
print(json.dumps({name: features.check(name) for name in ("webp", "avif")}))
"""


def _last_json_line(*args: str, env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_the_serving_process_wires_the_thumbnailer_without_pillows_image_modules(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path / "var")
    run_cli("migrate", env=env)
    report = _last_json_line(_WIRE_AND_REPORT, env=env)
    modules = report["modules"]
    assert isinstance(modules, list)
    assert isinstance(report["routes"], int)
    assert report["routes"] > 0  # it really wired the app, the thumbnailer included
    assert "order_service.adapters.images.render_pool" in modules
    pillow = [m for m in modules if m in {"PIL.Image", "PIL.ImageCms", "PIL.features"}]
    assert pillow == []
    assert "order_service.adapters.images.pillow_codec" not in modules


def test_the_outputs_offered_are_the_ones_pillow_can_encode(tmp_path: Path) -> None:
    pillow_says = _last_json_line(_PILLOW_SAYS, env=service_env(tmp_path))
    expected = {ImageFormat.JPEG, ImageFormat.PNG}
    expected |= {ImageFormat.WEBP} if pillow_says["webp"] else set()
    expected |= {ImageFormat.AVIF} if pillow_says["avif"] else set()
    assert available_outputs() == expected

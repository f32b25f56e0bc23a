"""CPU microseconds per request of each app, driven in-process (no sockets, no server).

Measures only what the adapter itself costs: routing, request/response objects, deadlines and
encoding. Uses process CPU time, so other load on the machine barely moves it.
Usage: uv run --with starlette python bench/http_stack/cpu_cost.py
"""

import asyncio
import os
import statistics
import time
from typing import Any

import apps

ITERATIONS = 20_000


async def drive(app: Any, n: int) -> float:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scopes = [
        {
            "type": "http",
            "method": "GET",
            "path": f"/users/{i % 10000 + 1}",
            "headers": [],
            "query_string": b"",
            "client": ("127.0.0.1", 1),
            "root_path": "",
            "scheme": "http",
            "http_version": "1.1",
            "server": ("127.0.0.1", 80),
            "app": app,
        }
        for i in range(n)
    ]
    started = time.process_time()
    for scope in scopes:
        await app(scope, receive, send)
        sent.clear()
    return (time.process_time() - started) / n * 1e6


async def start(app: Any) -> None:
    """Run the lifespan start-up of apps that have one."""
    messages = iter([{"type": "lifespan.startup"}])
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        try:
            return next(messages)
        except StopIteration:
            await asyncio.Event().wait()
            raise

    async def send(message: dict[str, Any]) -> None:
        done.set()

    asyncio.get_running_loop().create_task(app({"type": "lifespan"}, receive, send))
    await done.wait()


async def main() -> None:
    stacks = {}
    for name in ("raw", "ours", "starlette"):
        os.environ["STACK"] = name
        stacks[name] = apps.app()
        if name != "raw":  # the raw app has no lifespan
            await start(stacks[name])
    costs: dict[str, list[float]] = {name: [] for name in stacks}
    for _ in range(5):
        for name, app in stacks.items():
            costs[name].append(await drive(app, ITERATIONS))
    raw = statistics.median(costs["raw"])
    print("| stack | CPU µs per request (median of 5) | x raw ASGI cost |")
    print("|---|---:|---:|")
    for name, values in costs.items():
        cost = statistics.median(values)
        print(f"| {name} | {cost:.1f} | {cost / raw:.2f} |")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())

"""Where an uncached thumbnail's time goes: CPU per request of the server and its render
workers, over HTTP, set up as `make bench-images` does (service tree pinned to core 1, wrk with
4 connections on core 0, every request a variant never rendered before).

    uv run python bench/images/uncached_cpu.py                      # this tree
    uv run python bench/images/uncached_cpu.py --base-src /tmp/base/src   # A/B, interleaved

With `--stored` the same requests name variants already stored (rendered once in a first
pass, the memory cache off): the worker only sends each stored variant back, which measures the
service path of an uncached request without a render beside it on the core.

With `--base-src` a second service runs the code under that directory (e.g. `git archive
<commit> src | tar -x -C /tmp/base`) and the two are measured in alternating rounds, so both
see the same minutes of a shared machine. CPU times come from /proc/<pid>/stat (all threads of
the server; the sum of its child processes for the workers): unlike requests per second, they
do not depend on what else runs on the core.
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0, help="per round and service")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--base-src", type=Path, help="a second tree's src/ to compare with")
    parser.add_argument(
        "--stored", action="store_true", help="variants already stored: no render per request"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, bench.CLIENT_CORES)
    width, height = map(int, args.size.split("x"))
    data = bench.photo_jpeg(width, height, seed=width)
    work = Path(tempfile.mkdtemp(prefix="uncached-cpu-"))
    names = ["this"] + (["base"] if args.base_src else [])
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    ceilings: list[float] = []
    with contextlib.ExitStack() as stack:
        services = {}
        for name in names:
            # The service (and its forkserver) imports order_service from PYTHONPATH first.
            os.environ.pop("PYTHONPATH", None)
            if name == "base":
                os.environ["PYTHONPATH"] = str(args.base_src)
            env = {"ORDER_SERVICE_IMAGES_CACHE_BYTES": "1"} if args.stored else {}
            base_url, pid = stack.enter_context(bench.service(work / name, **env))
            client = stack.enter_context(httpx.Client(base_url=base_url, timeout=60))
            ids = bench.upload_copies(client, bench.log_in(client), data)
            bench.pin_tree(pid)
            paths = work / f"paths-{name}.txt"
            paths.write_text("\n".join(bench.variant_paths(ids)) + "\n")
            if args.stored:
                paths = render_first(base_url, paths, args.seconds)
            services[name] = {"url": base_url, "pid": pid, "paths": paths, "done": 0}
        os.environ.pop("PYTHONPATH", None)
        for round_ in range(args.rounds):
            ceiling, ceiling_cpu = bench.ceiling_rate(data, 1.5)
            ceilings.append(ceiling_cpu)
            line = f"round {round_}: ceiling {ceiling:.0f}/s, {ceiling_cpu:.3f} ms CPU per render"
            for name in names if round_ % 2 == 0 else names[::-1]:
                service = services[name]
                before = bench.tree_cpu(int(service["pid"]))
                run = bench.wrk(
                    str(service["url"]),
                    seconds=args.seconds,
                    connections=bench.UNCACHED_CONNECTIONS,
                    threads=1,
                    paths=Path(service["paths"]),
                    start=int(service["done"]),
                )
                service["done"] = int(service["done"]) + int(run["requests"])
                spent = bench.tree_cpu_since(int(service["pid"]), before)
                if spent is None:
                    line += f" | {name}: a worker retired, round not counted"
                    continue
                if not run["requests"]:
                    line += f" | {name}: no request answered, round not counted"
                    continue
                server = spent.pop(int(service["pid"])) / run["requests"] * 1e3
                workers = sum(spent.values()) / run["requests"] * 1e3
                rows[name].append((run["rps"], server, workers))
                line += (
                    f" | {name}: {run['rps']:.0f}/s ({run['rps'] / ceiling:.2f} of the ceiling),"
                    f" server {server:.3f} ms, workers {workers:.3f} ms CPU per request"
                )
                if run["errors"]:
                    line += f", {run['errors']:.0f} errors"
            print(line, flush=True)
    for name, measured in rows.items():
        rps, server, workers = (statistics.median(column) for column in zip(*measured, strict=True))
        print(
            f"{name}: medians {rps:.0f} requests/s, CPU per request: server {server:.3f} ms, "
            f"workers {workers:.3f} ms, total {server + workers:.3f} ms; ceiling "
            f"{statistics.median(ceilings):.3f} ms CPU per render, "
            f"ours/ceiling in CPU {statistics.median(ceilings) / (server + workers):.2f}"
        )
    if args.base_src:
        ratios = [this[0] / base[0] for this, base in zip(rows["this"], rows["base"], strict=False)]
        print("this/base requests/s, per round:", " ".join(f"{r:.3f}" for r in ratios))


def render_first(base_url: str, paths: Path, seconds: float) -> Path:
    """Render the first variants of `paths` once; the file of those now stored (wrk cycles
    through it, so every request of a round finds its variant in the store)."""
    run = bench.wrk(
        base_url,
        seconds=seconds,
        connections=bench.UNCACHED_CONNECTIONS,
        threads=1,
        paths=paths,
    )
    # The last few requests in flight when wrk stopped may not have been stored yet.
    stored = paths.read_text().splitlines()[: int(run["requests"]) - bench.UNCACHED_CONNECTIONS]
    out = paths.with_suffix(".stored.txt")
    out.write_text("\n".join(stored) + "\n")
    return out


if __name__ == "__main__":
    main()

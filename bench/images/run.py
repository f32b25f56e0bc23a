"""Thumbnailer benchmark: our renders vs thumbor vs the in-process ceiling, then cached requests.

Run with `make bench-images` (and as part of `make bench`). Everything is measured in one run,
side by side, one core each (the measured process tree is pinned with sched_setaffinity /
taskset); numbers are reported as ratios because this machine is shared and noisy. Needs
`wrk`, and installs thumbor from PyPI into bench/images/.thumbor-venv on first use. Writes
bench/results/<date>-images.{json,md} and latest-images.md (--out to change the directory).

Uncached renders are driven by wrk with a few connections in flight (UNCACHED_CONNECTIONS),
ours and thumbor alike: a sequential client would add its own latency to every render and
measure the client as much as the server (docs/adr/0030-image-thumbnailer.md).
"""

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from order_service.adapters.images.codec_values import RenderRequest  # noqa: E402
from order_service.adapters.images.pillow_codec import render_thumbnail  # noqa: E402
from tests.image_samples import photo_jpeg  # noqa: E402
from tests.service_process import free_port, running_service  # noqa: E402
from tests.e2e.images_client import log_in  # noqa: E402

SIZES = [(640, 480), (1920, 1080), (4000, 3000)]
BOX = 256
THUMBOR_VENV = Path(__file__).resolve().parent / ".thumbor-venv"
SERVER_CORE, CLIENT_CORES = 1, {0}
ROUNDS = 3
WRK_DIR = ROOT / "bench" / "wrk"
RESULTS = ROOT / "bench" / "results"
UNCACHED_CONNECTIONS = 4
# Copies of each photo (trailing bytes after the JPEG's end: new id, the same decoding work),
# each with 20 x 64 boxes of the same output size: 10,240 variants never rendered before.
COPIES = 8
TARGETS = {
    "uncached ours/ceiling": 0.9,
    "uncached ours/thumbor": 1.0,
    "cached ours/thumbor": 10.0,
    "cached thumbnail/get user": 0.8,
    "cached p99 ms": 8.0,
}


def rate(function: Callable[[], object], seconds: float) -> float:
    return rate_and_cpu(function, seconds)[0]


def rate_and_cpu(function: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(calls per second, CPU milliseconds per call): the second does not depend on what
    else runs on the core, so it still compares when the machine is busy."""
    function()  # warm up
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - started) < seconds:
        function()
        count += 1
    return count / elapsed, (time.process_time() - cpu) / count * 1e3


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, all its threads (0 once it has exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a render worker retired (max tasks) meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of each process in the tree."""
    return {each: cpu_seconds(each) for each in process_tree(pid)}


def tree_cpu_since(pid: int, before: dict[int, float]) -> dict[int, float] | None:
    """CPU seconds each process of the tree spent since `before`; None if one of them exited
    meanwhile (a render worker retired after its max tasks), as its last seconds are lost."""
    now = tree_cpu(pid)
    if before.keys() - now.keys():
        return None
    return {each: spent - before.get(each, 0.0) for each, spent in now.items()}


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (render workers, the forkserver)."""
    pids = [pid]
    for current in pids:
        for task in Path(f"/proc/{current}/task").iterdir():
            pids.extend(int(child) for child in (task / "children").read_text().split())
    return pids


# --- in-process pipelines ----------------------------------------------------------------


def ours(data: bytes) -> bytes:
    return render_thumbnail(data, RenderRequest(BOX, BOX, "contain", "jpeg", 80), 50_000_000)


def _target(size: tuple[int, int]) -> tuple[int, int]:
    scale = min(BOX / size[0], BOX / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def pillow_minimal(data: bytes) -> bytes:
    """Pillow with nothing but the work: DCT shrink-on-load to the box, one resize, encode."""
    image = Image.open(io.BytesIO(data))
    target = _target(image.size)
    image.draft("RGB", target)
    image = image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def pillow_reduce(data: bytes) -> bytes:
    """As minimal, with an integer box-reduce before a short final resample."""
    image = Image.open(io.BytesIO(data))
    target = _target(image.size)
    image.draft("RGB", target)
    factor = max(1, min(image.width // target[0], image.height // target[1]))
    if factor > 1:
        image = image.reduce(factor)
    image = image.resize(target, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def ceiling_pipelines() -> dict[str, Callable[[bytes], bytes]]:
    pipelines: dict[str, Callable[[bytes], bytes]] = {
        "pillow-minimal": pillow_minimal,
        "pillow-reduce": pillow_reduce,
    }
    try:
        import pyvips  # type: ignore[import-not-found]  # optional: measured when installed

        pyvips.cache_set_max(0)

        def vips(data: bytes) -> bytes:
            image = pyvips.Image.thumbnail_buffer(data, BOX, height=BOX)
            return bytes(image.jpegsave_buffer(Q=80, keep="none"))

        pipelines["pyvips-thumbnail"] = vips
    except (ImportError, OSError):
        pass
    return pipelines


# --- servers -------------------------------------------------------------------------------


def thumbor_python() -> Path:
    python = THUMBOR_VENV / "bin" / "python"
    if not python.exists():
        uv = shutil.which("uv") or "uv"
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(THUMBOR_VENV)], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), "thumbor>=7.7"], check=True
        )
    return python


@contextmanager
def thumbor(files: Path, *, result_storage: bool) -> Iterator[str]:
    workdir = Path(tempfile.mkdtemp(prefix="thumbor-"))
    config = workdir / "thumbor.conf"
    lines = [
        "ALLOW_UNSAFE_URL = True",
        "LOADER = 'thumbor.loaders.file_loader'",
        f"FILE_LOADER_ROOT_PATH = {str(files)!r}",
        "STORAGE = 'thumbor.storages.no_storage'",
        "QUALITY = 80",
        "AUTO_WEBP = False",
    ]
    if result_storage:
        lines += [
            "RESULT_STORAGE = 'thumbor.result_storages.file_storage'",
            f"RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = {str(workdir / 'results')!r}",
            "RESULT_STORAGE_STORES_UNSAFE = True",
        ]
    else:
        lines.append("RESULT_STORAGE = None")
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    thumbor_bin = THUMBOR_VENV / "bin" / "thumbor"
    process = subprocess.Popen(
        [
            "taskset",
            "-c",
            str(SERVER_CORE),
            str(thumbor_bin),
            "-p",
            str(port),
            "-c",
            str(config),
            "-l",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthcheck", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def service(var_dir: Path, **env: str) -> Iterator[tuple[str, int]]:
    settings = {
        "ORDER_SERVICE_IMAGES_RENDER_WORKERS": "1",
        "ORDER_SERVICE_IMAGES_RENDER_QUEUE": "64",
        "ORDER_SERVICE_LOG_LEVEL": "WARNING",
        "ORDER_SERVICE_MAX_CONCURRENT_REQUESTS": "4096",
        **env,
    }
    with running_service(var_dir, env=settings) as running:
        yield running.base_url, running.process.pid


def pin_tree(pid: int) -> None:
    """Pin a process, its threads and all its descendants (render workers too) to one core."""
    for each in process_tree(pid):
        subprocess.run(
            ["taskset", "-a", "-p", "-c", str(SERVER_CORE), str(each)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int = 50,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    paths: Path | None = None,
    start: int = 0,
) -> dict[str, float]:
    """Requests/s, p99 and errors of one wrk run from the client core (BENCH_JSON line)."""
    command = ["taskset", "-c", "0", "wrk", f"-t{threads}", f"-c{connections}"]
    command += [f"-d{max(1, round(seconds))}s", "-s", str(WRK_DIR / "paths.lua")]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    env = {**os.environ, "BENCH_WRK_DIR": str(WRK_DIR), "BENCH_START": str(start)}
    if paths is None:
        paths = Path(tempfile.mkstemp(suffix=".paths")[1])
        paths.write_text(re.sub(r"^https?://[^/]+", "", url) + "\n")
    env["BENCH_PATHS"] = str(paths)
    out = subprocess.run(
        [*command, url], check=True, capture_output=True, text=True, env=env
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    summary = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(summary[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "rps": summary["requests"] / (summary["duration_us"] / 1e6),
        "p99_ms": summary["p99"] / 1000,
        "errors": float(errors),
        "requests": float(summary["requests"]),
    }


def variant_paths(ids: list[str]) -> Iterator[str]:
    """Thumbnail paths never asked for before, of the same work: the box's height walks
    256..193 (the width binds, so the output keeps its size) and its width 256..237."""
    for image_id in ids:
        for n in range(20 * 64):
            yield f"/v1/images/{image_id}/thumbnail?w={BOX - n // 64}&h={BOX - n % 64}&format=jpeg"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


@contextmanager
def on_server_core() -> Iterator[None]:
    """Run in-process work on the core the servers use, so ratios compare one core's minute."""
    os.sched_setaffinity(0, {SERVER_CORE})
    try:
        yield
    finally:
        os.sched_setaffinity(0, CLIENT_CORES)


def ceiling_rate(data: bytes, seconds: float) -> tuple[float, float]:
    """The best pipeline's renders per second, and the least CPU ms per render of any."""
    with on_server_core():
        measured = [
            rate_and_cpu(lambda: pipeline(data), seconds)
            for pipeline in ceiling_pipelines().values()
        ]
    return max(rps for rps, _ in measured), min(cpu for _, cpu in measured)


def in_process(photos: dict[str, bytes], seconds: float) -> dict[str, dict[str, float]]:
    print(f"# in-process, core {SERVER_CORE}, {BOX}x{BOX} contain, JPEG q80 (renders/s)")
    pipelines = {"ours": ours, **ceiling_pipelines()}
    measured: dict[str, dict[str, float]] = {}
    for name, data in photos.items():
        # Interleaved rounds, best of each: the machine is shared, noise only ever slows down.
        row = dict.fromkeys(pipelines, 0.0)
        with on_server_core():
            for _ in range(ROUNDS):
                for label, pipeline in pipelines.items():
                    rendered = rate(lambda d=data, p=pipeline: p(d), seconds / ROUNDS)
                    row[label] = max(row[label], rendered)
        row["ceiling"] = max(v for k, v in row.items() if k != "ours")
        row["ours/ceiling"] = row["ours"] / row["ceiling"]
        measured[name] = row
        print(f"{name:>10}  " + "  ".join(f"{k}={v:.2f}" for k, v in row.items()))
    return measured


def upload_copies(client: httpx.Client, token: str, data: bytes) -> list[str]:
    ids = []
    for copy in range(COPIES):
        answer = client.post(
            "/v1/images",
            content=data + copy.to_bytes(4, "big"),
            headers={"authorization": f"Bearer {token}", "content-type": "image/jpeg"},
        )
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    return ids


def over_http(
    photos: dict[str, bytes],
    files: Path,
    work: Path,
    seconds: float,
    *,
    with_thumbor: bool,
    pools: tuple[str, ...] = ("process", "thread"),
    with_cached: bool = True,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Uncached: ceiling (in-process, same core), ours and thumbor, interleaved in rounds, best
    of each; then cached: ours, GET /v1/users/{id} and thumbor with result storage, likewise."""
    print(f"\n# over HTTP, servers on core {SERVER_CORE}, uncached (renders/s), best of {ROUNDS}")
    http: dict[str, dict[str, float]] = {name: {} for name in photos}
    cached: dict[str, dict[str, float]] = {}
    chunk = seconds / ROUNDS
    if with_thumbor:
        thumbor_python()
    for pool in pools:
        with contextlib.ExitStack() as stack:
            base, pid = stack.enter_context(
                service(work / f"svc-{pool}", ORDER_SERVICE_IMAGES_RENDER_POOL=pool)
            )
            client = stack.enter_context(httpx.Client(base_url=base, timeout=60))
            thumbor_base = None
            if with_thumbor and pool == "process":
                thumbor_base = stack.enter_context(thumbor(files, result_storage=False))
            token = log_in(client)
            ids = {name: upload_copies(client, token, data) for name, data in photos.items()}
            # Uploads started the render workers; now the whole tree goes on one core.
            pin_tree(pid)
            for name, copies in ids.items():
                paths = work / f"paths-{pool}-{name}.txt"
                paths.write_text("\n".join(variant_paths(copies)) + "\n")
                row = http[name]
                done = 0
                for _ in range(ROUNDS):
                    ceiling, ceiling_cpu = ceiling_rate(photos[name], chunk)
                    row["ceiling_same_minute"] = max(row.get("ceiling_same_minute", 0.0), ceiling)
                    row["ceiling_cpu_ms"] = min(row.get("ceiling_cpu_ms", 1e9), ceiling_cpu)
                    cpu_before = tree_cpu(pid)
                    ours_run = wrk(
                        base,
                        seconds=chunk,
                        connections=UNCACHED_CONNECTIONS,
                        threads=1,
                        paths=paths,
                        start=done,
                    )
                    done += int(ours_run["requests"])
                    spent = tree_cpu_since(pid, cpu_before)
                    row[f"ours_{pool}"] = max(row.get(f"ours_{pool}", 0.0), ours_run["rps"])
                    if spent is not None:
                        ours_cpu = sum(spent.values()) * 1e3 / ours_run["requests"]
                        key = f"ours_{pool}_cpu_ms"
                        row[key] = min(row.get(key, 1e9), ours_cpu)
                    row[f"ours_{pool}_errors"] = (
                        row.get(f"ours_{pool}_errors", 0.0) + ours_run["errors"]
                    )
                    if thumbor_base is not None:
                        url = f"{thumbor_base}/unsafe/fit-in/{BOX}x{BOX}/{name}.jpg"
                        theirs = wrk(
                            url, seconds=chunk, connections=UNCACHED_CONNECTIONS, threads=1
                        )
                        row["thumbor"] = max(row.get("thumbor", 0.0), theirs["rps"])
                if done > COPIES * 20 * 64:
                    raise SystemExit("more requests than distinct variants: raise COPIES")
                print(f"{name:>10}  " + "  ".join(f"{k}={v:.1f}" for k, v in row.items()))
            if pool == "process" and with_cached:
                cached = cached_over_http(
                    client, base, token, ids, files, with_thumbor=with_thumbor
                )
    for row in http.values():
        row["ours/in_process_ceiling"] = ratio(row["ours_process"], row["ceiling_same_minute"])
        # The same comparison in CPU time per render: the server's whole process tree against
        # the best in-process pipeline. Requests per second compare only on a quiet machine:
        # other load on the core takes a larger share from one process than from a tree.
        if "ours_process_cpu_ms" in row:
            row["ours/ceiling_cpu"] = ratio(row["ceiling_cpu_ms"], row["ours_process_cpu_ms"])
        if "ours_thread" in row:
            row["ours_thread/in_process_ceiling"] = ratio(
                row["ours_thread"], row["ceiling_same_minute"]
            )
        if "thumbor" in row:
            row["ours/thumbor"] = ratio(row["ours_process"], row["thumbor"])
    return http, cached


def cached_over_http(
    client: httpx.Client,
    base: str,
    token: str,
    ids: dict[str, list[str]],
    files: Path,
    *,
    with_thumbor: bool,
) -> dict[str, dict[str, float]]:
    photo = "1920x1080" if "1920x1080" in ids else next(iter(ids))  # --sizes may leave it out
    warm = f"/v1/images/{ids[photo][0]}/thumbnail?w={BOX}&h={BOX}&format=jpeg"
    client.get(warm).raise_for_status()
    me = client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
    targets: list[tuple[str, str, dict[str, str] | None]] = [
        ("ours_thumbnail", base + warm, None),
        (
            "ours_get_user",
            f"{base}/v1/users/{me.json()['id']}",
            {"Authorization": f"Bearer {token}"},
        ),
    ]
    cached: dict[str, dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        if with_thumbor:
            thumbor_base = stack.enter_context(thumbor(files, result_storage=True))
            url = f"{thumbor_base}/unsafe/fit-in/{BOX}x{BOX}/1920x1080.jpg"
            httpx.get(url, timeout=30).raise_for_status()
            targets.append(("thumbor_result_storage", url, None))
        # Interleaved, best of ROUNDS: the same minutes for all.
        for _ in range(ROUNDS):
            for label, url, headers in targets:
                run = wrk(url, seconds=4, headers=headers)
                if run["rps"] > cached.get(label, {}).get("rps", 0.0):
                    cached[label] = run
    return cached


def verdicts(results: dict[str, Any]) -> list[tuple[str, str, float, float, bool]]:
    """(what, where, measured, target, met) for every target of the issue."""
    rows = []
    for name, row in results["http_uncached"].items():
        rows.append(
            (
                "uncached ours/ceiling",
                name,
                row["ours/in_process_ceiling"],
                TARGETS["uncached ours/ceiling"],
            )
        )
        if "ours/thumbor" in row:
            rows.append(
                (
                    "uncached ours/thumbor",
                    name,
                    row["ours/thumbor"],
                    TARGETS["uncached ours/thumbor"],
                )
            )
    cached = results["cached"]
    if not cached:  # --no-cached
        return [(what, where, value, target, value >= target) for what, where, value, target in rows]
    ours_rps = cached["ours_thumbnail"]["rps"]
    rows.append(
        (
            "cached thumbnail/get user",
            "50 conns",
            ratio(ours_rps, cached["ours_get_user"]["rps"]),
            TARGETS["cached thumbnail/get user"],
        )
    )
    if "thumbor_result_storage" in cached:
        rows.append(
            (
                "cached ours/thumbor",
                "50 conns",
                ratio(ours_rps, cached["thumbor_result_storage"]["rps"]),
                TARGETS["cached ours/thumbor"],
            )
        )
    out = [(what, where, value, target, value >= target) for what, where, value, target in rows]
    p99 = cached["ours_thumbnail"]["p99_ms"]
    out.append(
        ("cached p99 ms", "50 conns", p99, TARGETS["cached p99 ms"], p99 < TARGETS["cached p99 ms"])
    )
    return out


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"# Thumbnailer benchmark, {meta['date']}",
        "",
        f"`{meta['command']}`; server tree on core {SERVER_CORE}, clients on core 0; "
        f"uncached over HTTP with wrk, {UNCACHED_CONNECTIONS} connections; "
        f"cached with wrk, 50 connections. Box {BOX}x{BOX}, JPEG q80.",
        "",
        "| source | in-process: ours | ceiling | HTTP: ceiling, same minute | ours (processes) "
        "| ours (threads) | thumbor | ours / ceiling | ours / thumbor "
        "| CPU ms per render: ceiling, ours | ours / ceiling, CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in results["in_process"].items():
        http = results.get("http_uncached", {}).get(name, {})
        cells = [f"{row['ours']:.1f}", f"{row['ceiling']:.1f}"]
        keys = ("ceiling_same_minute", "ours_process", "ours_thread", "thumbor")
        cells += [f"{http[k]:.1f}" if k in http else "-" for k in keys]
        keys = ("ours/in_process_ceiling", "ours/thumbor")
        cells += [f"{http[k]:.2f}" if k in http else "-" for k in keys]
        if "ours/ceiling_cpu" in http:
            cells.append(f"{http['ceiling_cpu_ms']:.2f}, {http['ours_process_cpu_ms']:.2f}")
            cells.append(f"{http['ours/ceiling_cpu']:.2f}")
        else:
            cells += ["-", "-"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if results.get("cached"):
        lines += ["", "| cached, 50 connections | requests/s | p99 ms |", "|---|---|---|"]
        for name, row in results["cached"].items():
            lines.append(f"| {name} | {row['rps']:.0f} | {row['p99_ms']:.2f} |")
    if "http_uncached" in results:
        lines += ["", "| target | where | measured | target | met |", "|---|---|---|---|---|"]
        for what, where, value, target, met in verdicts(results):
            lines.append(
                f"| {what} | {where} | {value:.2f} | {target:g} | {'yes' if met else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = results["meta"]["date"].replace("+00:00", "Z").replace(":", "") + "-images"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(markdown(results))
    (out_dir / "latest-images.md").write_text(markdown(results))
    return [json_path, md_path]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="per measurement, all rounds")
    parser.add_argument("--no-thumbor", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument(
        "--sizes",
        default=",".join(f"{w}x{h}" for w, h in SIZES),
        help="photos to measure, e.g. 640x480 (a shorter run)",
    )
    parser.add_argument("--no-threads", action="store_true", help="skip the thread pool's run")
    parser.add_argument("--no-cached", action="store_true", help="skip the cached requests")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.sched_setaffinity(0, CLIENT_CORES)
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python bench/images/run.py " + " ".join(sys.argv[1:]),
        }
    }
    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    files = work / "files"
    files.mkdir()
    sizes = [tuple(int(side) for side in size.split("x")) for size in args.sizes.split(",")]
    photos = {f"{w}x{h}": photo_jpeg(w, h, seed=w) for w, h in sizes}
    for name, data in photos.items():
        (files / f"{name}.jpg").write_bytes(data)
    try:
        results["in_process"] = in_process(photos, args.seconds)
        if not args.no_http:
            http, cached = over_http(
                photos,
                files,
                work,
                args.seconds,
                with_thumbor=not args.no_thumbor,
                pools=("process",) if args.no_threads else ("process", "thread"),
                with_cached=not args.no_cached,
            )
            results["http_uncached"] = http
            results["cached"] = cached
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(markdown(results))
    for path in write_results(results, args.out):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

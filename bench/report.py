"""The results as a table (stdout and markdown) and as JSON, with the ratios to the targets."""

import json
import math
from pathlib import Path
from typing import Any

_STACK_NAMES = {
    "ceiling": "bare ASGI ceiling (in-memory)",
    "peer": "FastAPI peer (docs style)",
    "service": "order-service",
    "pgbench": "pgbench single INSERT",
}
_COLUMNS = (
    "scenario", "stack", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "CPU µs/req",
    "RSS MiB", "GC p99 µs", "GC max µs", "lag p99 ms", "x ceiling", "x peer",
)  # fmt: skip


def _fmt(value: Any, digits: int = 2) -> str:  # noqa: ANN401 - any cell
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def rows(results: dict[str, Any]) -> list[list[str]]:
    out = []
    for scenario, stacks in results["scenarios"].items():
        ceiling = stacks.get("ceiling", {}).get("median", {}).get("rps")
        peer = stacks.get("peer", {}).get("median", {}).get("rps")
        reference = stacks.get("pgbench", {}).get("median", {}).get("rps")
        for stack, data in stacks.items():
            base, _, variant = stack.partition(":")
            name = _STACK_NAMES.get(base, base) + (f" [{variant}]" if variant else "")
            if "n/a" in data:
                out.append([scenario, name, f"n/a: {data['n/a']}", *([""] * 11)])
                continue
            m = data["median"]
            rps = m.get("rps")
            over_ceiling = rps / ceiling if ceiling and rps else None
            if scenario == "orders_post" and reference and stack != "pgbench":
                over_ceiling = rps / reference if rps else None  # the reference is PostgreSQL
            gc_p99 = m.get("metrics_gc_pause_p99_us", m.get("gc_pause_p99_us"))
            lag_p99 = m.get("metrics_loop_lag_p99_ms", m.get("loop_lag_p99_ms"))
            out.append([
                scenario, name, _fmt(rps), _fmt(m.get("p50_ms")), _fmt(m.get("p99_ms")),
                _fmt(m.get("p999_ms")), _fmt(m.get("errors")),
                _fmt(m.get("cpu_us_per_request"), 1), _fmt(m.get("rss_mib"), 0),
                _fmt(gc_p99, 0), _fmt(m.get("gc_pause_max_us"), 0), _fmt(lag_p99, 3),
                _fmt(over_ceiling, 3), _fmt(rps / peer if peer and rps else None, 2),
            ])  # fmt: skip
    return out


def table(results: dict[str, Any]) -> str:
    """A GitHub-flavoured markdown table, readable on a terminal too."""
    lines = [
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(_COLUMNS) - 2)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    startup = results.get("startup", {})
    if startup:
        runs = ", ".join(f"{s:.3f}" for s in startup["runs_seconds"])
        lines.append("")
        lines.append(
            f"start to /ready=200 (embedded default): median {startup['median_seconds']:.3f} s "
            f"(runs: {runs})"
        )
        if "one_worker_median_seconds" in startup:
            one = ", ".join(f"{s:.3f}" for s in startup["one_worker_runs_seconds"])
            lines.append(
                f"start to /ready=200 (embedded default, --workers 1): median "
                f"{startup['one_worker_median_seconds']:.3f} s (runs: {one})"
            )
    lines.append("")
    lines.append(
        "`x ceiling` for orders_post is x pgbench (what PostgreSQL itself commits). "
        "GC and lag columns come from the service's /metrics when it has them, else bench/probe."
    )
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    head = [
        f"# Benchmark ({meta['mode']}) {meta['date']}",
        "",
        f"- command: `{meta['command']}`, git {meta['git']}",
        f"- machine: {meta['machine']}; python {meta['python']}",
        f"- server core {meta['server_cpu']}, wrk core {meta['load_cpu']}; "
        f"{meta['rounds']} rounds x {meta['seconds']} s (+{meta['warmup_seconds']} s warm-up), "
        f"-c{meta['connections']} (token: -c{meta['token_connections']}), {meta['users']} users; "
        f"users_paced: about {meta.get('paced_rps', 'n/a')} req/s",
        f"- load average before / after: {meta['load_before']} / {meta.get('load_after', 'n/a')}; "
        f"driver time {meta.get('driver_seconds', 'n/a')} s",
        f"- packages: {', '.join(f'{k} {v}' for k, v in meta['packages'].items())}",
    ]
    if meta.get("observability"):
        head.append(f"- order-service observability: {meta['observability']}")
    if meta.get("service_env"):
        head.append(f"- service settings: {meta['service_env']}")
    for name, settings in meta.get("variants", {}).items():
        head.append(f"- variant `{name}`: order-service with {settings}")
    if meta.get("label"):
        head.append(f"- label: {meta['label']}")
    return "\n".join([*head, "", table(results), ""])


def write(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = results["meta"]
    stem = meta["date"].replace(":", "").replace("+0000", "Z") + f"-{meta['mode']}"
    if meta.get("label"):
        stem += f"-{meta['label']}"
    json_path = out_dir / f"{stem}.json"
    md_path = out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path.write_text(markdown(results))
    latest = out_dir / f"latest-{meta['mode']}.md"
    latest.write_text(markdown(results))
    return [json_path, md_path, latest]

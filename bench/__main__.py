"""`python -m bench [--quick]`: run the benchmark and print the table (see docs/performance.md)."""

import argparse
import dataclasses
from pathlib import Path

from bench.harness import SCENARIOS, Plan, run

RESULTS = Path(__file__).resolve().parent / "results"
# Quick runs check the harness; their numbers are not worth keeping in the repository.
QUICK_RESULTS = Path(__file__).resolve().parent.parent / "var" / "bench-quick"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="seconds: checks the harness works")
    parser.add_argument(
        "--out",
        type=Path,
        help="results directory (default: bench/results; quick: var/bench-quick)",
    )
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=int, help="measured seconds per run")
    parser.add_argument("--connections", type=int)
    parser.add_argument("--users", type=int)
    parser.add_argument("--stacks", help="comma-separated subset of ceiling,peer,service")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra ORDER_SERVICE_* setting for the service (repeatable)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:SETTING=VALUE[,SETTING=VALUE]",
        help="another order-service with these settings, measured in the same rounds (repeatable)",
    )
    parser.add_argument(
        "--scenarios",
        help=f"comma-separated subset of {','.join(SCENARIOS)} (e.g. orders_post,orders_get)",
    )
    parser.add_argument(
        "--in-process-dispatch",
        action="store_true",
        help="the dispatcher inside the measured service process (the embedded default), "
        "instead of a separate `order-service worker` on the load core",
    )
    parser.add_argument("--label", help="a tag for the result files, e.g. before-token-cache")
    args = parser.parse_args()
    plan = Plan.quick() if args.quick else Plan.full()
    changes: dict[str, object] = {}
    for name in ("rounds", "seconds", "connections", "users"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.stacks:
        changes["stacks"] = tuple(args.stacks.split(","))
    if args.scenarios:
        chosen = tuple(args.scenarios.split(","))
        unknown = sorted(set(chosen) - set(SCENARIOS))
        if unknown:
            parser.error(f"unknown scenarios: {', '.join(unknown)}")
        changes["scenarios"] = chosen
    if args.in_process_dispatch:
        changes["separate_worker"] = False
    if args.set:
        changes["service_env"] = dict(item.split("=", 1) for item in args.set)
    if args.variant:
        variants = {}
        for item in args.variant:
            name, _, settings = item.partition(":")
            variants[name] = dict(pair.split("=", 1) for pair in settings.split(",") if pair)
        changes["variants"] = variants
    plan = dataclasses.replace(plan, **changes)  # type: ignore[arg-type]
    run(plan, args.out or (QUICK_RESULTS if args.quick else RESULTS), label=args.label)


if __name__ == "__main__":
    main()

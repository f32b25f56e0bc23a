"""The command line: `order-service serve | worker | provider-sim | migrate | create-admin`,
`rotate-key`, `check-config` and `reindex`."""

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence

from order_service import __version__
from order_service.platform.config import (
    ENV_PREFIX,
    Settings,
    SettingsError,
    load_settings,
    settings_for_display,
)

# httpx 0.28 imports its command-line client, and with it click, rich and pygments, whenever
# they are installed, as the dev virtualenv's tooling installs them: a fifth of the embedded
# default's start-up there (docs/performance.md, "Start-up"). No command here runs that client;
# None in sys.modules makes its import fail, and httpx then leaves it out as it does in a
# runtime-only install. At module level, so spawned server workers, which import this module
# first, skip it too.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type] # None: "not importable"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Flags are settings too: set them in the environment so spawned workers see the same values.
    for flag in ("http_host", "http_port", "workers"):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"{ENV_PREFIX}{flag.upper()}"] = str(value)
    try:
        settings = load_settings()
    except SettingsError as error:
        _fail(str(error))
        return 2
    command: int = args.run(settings, args)
    return command


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    from order_service.platform.multiprocess_dir import multiprocess_metrics_dir  # noqa: PLC0415

    # Before anything imports prometheus_client, which picks its storage at import time;
    # the workers inherit the variable and sum each other's values (docs/adr/0010).
    with multiprocess_metrics_dir():
        from order_service.bootstrap import APP_FACTORY, load_key_ring  # noqa: PLC0415 - keep CLI start fast
        from order_service.platform.logging import configure_logging  # noqa: PLC0415
        from order_service.platform.server import run_http_server  # noqa: PLC0415

        configure_logging(settings.log_level)
        # Load (or, for the embedded default, create) the keys once here, before workers
        # start, so that every worker signs with the same key.
        load_key_ring(settings)
        run_http_server(settings, app_factory=APP_FACTORY)
    return 0


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    import uvloop  # noqa: PLC0415

    from order_service.bootstrap import run_dispatch_worker  # noqa: PLC0415
    from order_service.platform.logging import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level)
    try:
        uvloop.run(run_dispatch_worker(settings))
    except ValueError as error:  # an inconsistent dispatch policy, found before any claim
        _fail(str(error))
        return 2
    return 0


def _provider_sim(_settings: Settings, args: argparse.Namespace) -> int:
    from order_service.adapters.providers.simulator import (  # noqa: PLC0415
        SimulatorConfig,
        run_simulator,
    )

    low, _, high = args.latency_ms.partition(":")
    config = SimulatorConfig(
        rate_per_second=args.rate or None,
        burst=args.burst,
        latency_min_ms=float(low),
        latency_max_ms=float(high or low),
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        hang_seconds=args.hang_seconds,
        down=args.down,
    )
    run_simulator(config, host=args.host, port=args.port, seed=args.seed)
    return 0


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from order_service.adapters.migrations import migrate  # noqa: PLC0415

    migrate(settings.effective_database_url, schema=settings.database_schema)
    print("database is at the latest revision")  # noqa: T201
    return 0


def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from order_service.bootstrap import wire  # noqa: PLC0415
    from order_service.domain.errors import DomainError  # noqa: PLC0415

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password for the new admin: ")

    async def create() -> str:
        async with wire(settings) as wiring:
            accounts = wiring.accounts
            user = await accounts.create_admin(email=args.email, name=args.name, password=password)
            return str(user.id)

    try:
        user_id = asyncio.run(create())
    except DomainError as error:
        _fail(str(error))
        return 1
    print(user_id)  # noqa: T201
    return 0


def _reindex(settings: Settings, _args: argparse.Namespace) -> int:
    from order_service.adapters.search_rebuild import rebuild_search  # noqa: PLC0415

    written = asyncio.run(
        rebuild_search(
            settings.effective_database_url,
            schema=settings.database_schema,
            timeout=settings.db_timeout_seconds,
        )
    )
    print(f"{written} search documents rebuilt")  # noqa: T201
    return 0


def _rotate_key(settings: Settings, _args: argparse.Namespace) -> int:
    from order_service.adapters.crypto.jwt_tokens import KeyRing, write_new_key  # noqa: PLC0415

    if settings.jwt_private_keys is not None:
        _fail("keys come from ORDER_SERVICE_JWT_PRIVATE_KEYS; append a new PEM block there instead")
        return 2
    directory = settings.effective_jwt_keys_dir
    write_new_key(directory)
    ring = KeyRing.from_directory(directory, create_if_empty=False)
    print(ring.signing.kid)  # noqa: T201
    return 0


def _check_config(settings: Settings, _args: argparse.Namespace) -> int:
    for name, value in sorted(settings_for_display(settings).items()):
        print(f"{ENV_PREFIX}{name.upper()}={value}")  # noqa: T201
    return 0


def _fail(message: str) -> None:
    print(f"order-service: {message}", file=sys.stderr)  # noqa: T201 - the operator's one line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="order-service", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="serve HTTP (the API, probes and docs)")
    serve.add_argument("--host", dest="http_host")
    serve.add_argument("--port", dest="http_port", type=int)
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes (default: 1 on SQLite, else one per core)",
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker", help="run the order dispatcher alone (claims from the shared outbox)"
    )
    worker.set_defaults(run=_worker)

    sim = commands.add_parser("provider-sim", help="serve the fulfilment provider simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9100)
    sim.add_argument("--rate", type=float, default=50.0, help="requests/s per provider; 0: none")
    sim.add_argument("--burst", type=int, default=10)
    sim.add_argument("--latency-ms", default="5:20", help="uniform latency range, MIN:MAX")
    sim.add_argument("--error-rate", type=float, default=0.0, help="share answered 500")
    sim.add_argument("--timeout-rate", type=float, default=0.0, help="share applied, then hung")
    sim.add_argument("--hang-seconds", type=float, default=30.0)
    sim.add_argument("--down", action="store_true", help="answer every order with 503")
    sim.add_argument("--seed", type=int)
    sim.set_defaults(run=_provider_sim)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(run=_migrate)

    admin = commands.add_parser("create-admin", help="create an admin, or promote a user")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="Administrator")
    admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    admin.set_defaults(run=_create_admin)

    reindex = commands.add_parser(
        "reindex", help="rebuild the users and products search documents from their tables"
    )
    reindex.set_defaults(run=_reindex)

    rotate = commands.add_parser(
        "rotate-key", help="add a new signing key; the old ones still verify"
    )
    rotate.set_defaults(run=_rotate_key)

    check = commands.add_parser("check-config", help="validate and print the settings")
    check.set_defaults(run=_check_config)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())

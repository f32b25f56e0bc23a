"""Settings: ORDER_SERVICE_* environment variables over an optional TOML file, checked at start-up.

A bad, missing or unknown setting stops the process with one line naming it, before any
socket is opened or worker spawned. The settings are a msgspec Struct, validated by the
library that already validates request bodies; pydantic-settings cost ~0.3 s of every
process's start-up (docs/adr/0006-settings-on-msgspec.md).
"""

import json
import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

ENV_PREFIX = "ORDER_SERVICE_"
CONFIG_FILE_VARIABLE = f"{ENV_PREFIX}CONFIG_FILE"
# Variables with our prefix that are not settings of the service itself.
_NOT_SETTINGS = (CONFIG_FILE_VARIABLE, f"{ENV_PREFIX}TEST_")

Seconds = Annotated[float, Meta(gt=0, le=3600)]
# Patterns end in \Z, not $: Python's $ also matches before a trailing newline.
ProviderId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._-]{1,64}\Z")]
HttpUrl = Annotated[str, Meta(pattern=r"^https?://\S+\Z")]
Names = Annotated[list[str], Meta(min_length=1)]
BlobUrl = Annotated[str, Meta(pattern=r"^(file://.+|s3://[a-z0-9.-]+(/.*)?)\Z")]


class SecretStr:
    """A secret setting: its value only through get_secret_value(); masked in repr, str and
    check-config, so it never reaches a log line by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ProviderSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One fulfilment provider, as listed in ORDER_SERVICE_PROVIDERS (JSON) or [[providers]]."""

    id: ProviderId
    endpoint: HttpUrl
    regions: Names
    skus: Names = msgspec.field(default_factory=lambda: ["*"])
    cost: Annotated[float, Meta(ge=0)] = 1.0
    rate_per_second: Annotated[float, Meta(gt=0, le=100_000)]
    burst: Annotated[int, Meta(ge=1, le=10_000)] = 2
    max_in_flight: Annotated[int, Meta(ge=1, le=10_000)] = 16
    timeout_seconds: Annotated[float, Meta(gt=0, le=300)] = 5.0


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Every setting of the service, with its default for the embedded single-machine mode.

    `load_settings()` reads and validates them; constructing one directly (tests, benchmarks)
    trusts the values it is given.
    """

    # HTTP server
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, Meta(ge=0, le=65535)] = 8080
    # None: see effective_workers (one process on the embedded SQLite, else one per core).
    workers: Annotated[int, Meta(ge=1, le=128)] | None = None
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 1_048_576
    max_concurrent_requests: Annotated[int, Meta(ge=1)] = 1024
    request_timeout_seconds: Seconds = 10.0
    max_request_timeout_seconds: Seconds = 60.0
    shutdown_grace_seconds: Seconds = 20.0

    # Storage
    var_dir: Path = Path("var")
    database_url: str | None = None
    database_schema: Annotated[str, Meta(pattern=r"^[a-z_][a-z0-9_]{0,62}\Z")] | None = None
    db_pool_min_size: Annotated[int, Meta(ge=0, le=100)] = 2
    db_pool_max_size: Annotated[int, Meta(ge=1, le=500)] = 10
    db_timeout_seconds: Seconds = 5.0
    redis_url: str | None = None
    redis_timeout_seconds: Seconds = 0.5

    # Tokens
    jwt_issuer: str = "order-service"
    jwt_audience: str = "order-service"
    access_token_ttl_seconds: Annotated[int, Meta(ge=30, le=86_400)] = 900
    jwt_keys_dir: Path | None = None
    jwt_private_keys: SecretStr | None = None

    # Hot-path caches and the garbage collector (docs/performance.md)
    token_cache_size: Annotated[int, Meta(ge=0, le=10_000_000)] = 16_384  # 0: verify every request
    user_cache_size: Annotated[int, Meta(ge=0, le=10_000_000)] = 16_384  # 0: no in-process cache
    # With Redis, saves are announced (adapters/redis/user_changes.py) and this is a safety
    # net; without, how long another worker's save may go unseen.
    user_cache_ttl_seconds: Seconds = 300.0
    user_cache_redis_ttl_seconds: Seconds = 300.0
    gc_freeze: bool = True  # move start-up objects out of the collector's sight once ready
    # With gc_freeze, freeze again this long after start-up (0: never): see gc_tuning.py.
    gc_warm_freeze_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 60.0
    gc_gen0_threshold: Annotated[int, Meta(ge=0, le=10_000_000)] = 700  # 0: GC disabled

    # Passwords and log-in throttling
    argon2_time_cost: Annotated[int, Meta(ge=1, le=20)] = 3
    argon2_memory_kib: Annotated[int, Meta(ge=1024, le=4_194_304)] = 65_536
    argon2_parallelism: Annotated[int, Meta(ge=1, le=64)] = 4
    password_hash_concurrency: Annotated[int, Meta(ge=1, le=64)] = 2
    password_hash_queue: Annotated[int, Meta(ge=0)] = 64
    login_max_failures_per_email: Annotated[int, Meta(ge=1)] = 5
    login_max_failures_per_client: Annotated[int, Meta(ge=1)] = 50
    login_failure_window_seconds: Seconds = 900.0

    # Order router. No providers: the built-in provider simulator serves as one (embedded default).
    providers: list[ProviderSettings] | None = None
    dispatch_in_serve: bool = True
    dispatch_workers: Annotated[int, Meta(ge=1, le=1024)] = 8
    dispatch_lease_seconds: Seconds = 30.0
    dispatch_poll_seconds: Annotated[float, Meta(gt=0, le=60)] = 0.2
    dispatch_max_attempts: Annotated[int, Meta(ge=1, le=100)] = 6
    dispatch_backoff_base_seconds: Annotated[float, Meta(gt=0, le=600)] = 0.5
    dispatch_backoff_cap_seconds: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    dispatch_limiter_max_wait_seconds: Annotated[float, Meta(ge=0, le=60)] = 1.0
    breaker_failure_threshold: Annotated[int, Meta(ge=1, le=1000)] = 5
    breaker_reset_seconds: Seconds = 10.0
    rate_limiter_key_prefix: str = "order-service:ratelimit:"
    rate_limiter_fallback_share: Annotated[float, Meta(gt=0, le=1)] = 0.25
    worker_metrics_port: Annotated[int, Meta(ge=0, le=65535)] | None = None

    # Images: limits, render pool, cache and blob store (see docs/images.md)
    images_max_upload_bytes: Annotated[int, Meta(ge=1024)] = 20 * 1024 * 1024
    images_max_pixels: Annotated[int, Meta(ge=1)] = 50_000_000
    images_max_side: Annotated[int, Meta(ge=16, le=16_384)] = 2048
    images_allowed_sizes: Annotated[str, Meta(pattern=r"^(\d+x\d+(,\d+x\d+)*)?\Z")] = ""
    images_quality: Annotated[int, Meta(ge=1, le=100)] = 80
    images_render_pool: Literal["process", "thread"] = "process"
    images_render_workers: Annotated[int, Meta(ge=1, le=64)] = 1
    images_render_queue: Annotated[int, Meta(ge=0, le=10_000)] = 8
    images_render_timeout_seconds: Seconds = 30.0
    images_cache_bytes: Annotated[int, Meta(ge=0)] = 64 * 1024 * 1024
    images_blob_url: BlobUrl | None = None
    images_s3_endpoint: str | None = None
    images_s3_region: str = "us-east-1"
    images_s3_access_key_id: str | None = None
    images_s3_secret_access_key: SecretStr | None = None
    # Search: each index query is bounded by its own timeout and the request's remaining budget.
    search_timeout_seconds: Seconds = 5.0
    search_index_timeout_seconds: Seconds = 2.0

    # Logs
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Observability (traces are configured by the standard OTEL_* variables)
    log_sample_rate: Annotated[float, Meta(ge=0.0, le=1.0)] = 1.0
    slow_request_seconds: Seconds = 1.0
    metrics_enabled: bool = True

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'order-service.db'}"

    @property
    def effective_workers(self) -> int:
        """Server processes: ORDER_SERVICE_WORKERS, else one for the embedded SQLite store, else
        one per core (each runs its own event loop, so the service uses every core).

        The embedded default is one process because SQLite takes one writer at a time, and its
        in-process parts (rate limiter, log-in throttle, caches) would each hold a separate
        count per process; one process also starts in about half the time (docs/performance.md).
        """
        if self.workers is not None:
            return self.workers
        if self.effective_database_url.startswith("sqlite:"):
            return 1
        return os.cpu_count() or 1

    @property
    def effective_jwt_keys_dir(self) -> Path:
        return self.jwt_keys_dir or self.var_dir / "keys"


class SettingsError(Exception):
    """A setting is wrong; str(error) is the one line to show the operator."""


def load_settings() -> Settings:
    """Read and validate the settings, raising SettingsError naming the first bad one."""
    names = Settings.__struct_fields__
    known = {f"{ENV_PREFIX}{name.upper()}" for name in names}
    for variable in sorted(os.environ):
        unknown = variable.startswith(ENV_PREFIX) and variable not in known
        if unknown and not variable.startswith(_NOT_SETTINGS):
            raise SettingsError(f"unknown setting {variable} (is it misspelt?)")
    config_file = os.environ.get(CONFIG_FILE_VARIABLE)
    raw = _read_config_file(config_file) if config_file else {}
    for name in names:
        text = os.environ.get(f"{ENV_PREFIX}{name.upper()}")
        if text is not None:
            raw[name] = _from_environment(name, text)
    try:
        # strict=False: the environment's strings become numbers and booleans.
        settings = msgspec.convert(raw, Settings, strict=False, dec_hook=_from_string)
    except msgspec.ValidationError as error:
        raise _invalid(str(error)) from None
    ids = [p.id for p in settings.providers or ()]
    if len(ids) != len(set(ids)):
        raise SettingsError(f"invalid setting {ENV_PREFIX}PROVIDERS: provider ids must be unique")
    return settings


def settings_for_display(settings: Settings) -> dict[str, Any]:
    """Every setting by name, as plain values, with secrets masked (`check-config`)."""
    plain: dict[str, Any] = msgspec.to_builtins(settings, enc_hook=str)
    return plain


def _read_config_file(config_file: str) -> dict[str, Any]:
    path = Path(config_file)
    if not path.is_file():
        raise SettingsError(f"{CONFIG_FILE_VARIABLE}={config_file}: no such file")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{CONFIG_FILE_VARIABLE}={config_file}: {error}") from None
    for key in table:
        if key not in Settings.__struct_fields__:
            raise SettingsError(
                f"unknown setting {key} in {CONFIG_FILE_VARIABLE}={config_file} (is it misspelt?)"
            )
    return table


# The words pydantic-settings took for booleans, which deployments may already use.
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
# The one structured setting; the environment carries it as JSON, a TOML file as tables.
_JSON_SETTINGS = frozenset({"providers"})


def _from_environment(name: str, text: str) -> object:
    if name in _JSON_SETTINGS:
        try:
            return json.loads(text)
        except ValueError as error:
            raise SettingsError(f"invalid setting {ENV_PREFIX}{name.upper()}: {error}") from None
    if name in _booleans():
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    return text


@cache
def _booleans() -> frozenset[str]:
    return frozenset(f.name for f in msgspec.structs.fields(Settings) if f.type is bool)


def _from_string(kind: type, value: object) -> object:
    """msgspec's decoding hook for the two setting types it does not know."""
    if kind in (Path, SecretStr) and isinstance(value, str):
        return kind(value)
    raise TypeError(f"Expected `{kind.__name__}`, got `{type(value).__name__}`")


def _invalid(message: str) -> SettingsError:
    """One line naming the setting, from msgspec's "<what> - at `$.name[0].field`"."""
    detail, _, where = message.partition(" - at `$.")
    name, bracket, rest = where.rstrip("`").partition("[")
    path = f" (at [{rest})" if bracket else ""
    setting = f"{ENV_PREFIX}{name.upper()}" if name else "settings"
    return SettingsError(f"invalid setting {setting}: {detail}{path}")

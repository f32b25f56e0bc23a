"""Settings: ORDER_SERVICE_* environment variables over an optional TOML file, checked at start-up.

A bad, missing or unknown setting stops the process with one line naming it, before any
socket is opened or worker spawned.
"""

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "ORDER_SERVICE_"
CONFIG_FILE_VARIABLE = f"{ENV_PREFIX}CONFIG_FILE"
# Variables with our prefix that are not settings of the service itself.
_NOT_SETTINGS = (CONFIG_FILE_VARIABLE, f"{ENV_PREFIX}TEST_")

Seconds = Annotated[float, Field(gt=0, le=3600)]


class ProviderSettings(BaseModel):
    """One fulfilment provider, as listed in ORDER_SERVICE_PROVIDERS (JSON) or [[providers]]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    endpoint: str = Field(pattern=r"^https?://\S+$")
    regions: list[str] = Field(min_length=1)
    skus: list[str] = Field(default=["*"], min_length=1)
    cost: float = Field(default=1.0, ge=0)
    rate_per_second: float = Field(gt=0, le=100_000)
    burst: int = Field(default=2, ge=1, le=10_000)
    max_in_flight: int = Field(default=16, ge=1, le=10_000)
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)


class Settings(BaseSettings):
    """Every setting of the service, with its default for the embedded single-machine mode."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True
    )

    # HTTP server
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # None: see effective_workers (one process on the embedded SQLite, else one per core).
    workers: int | None = Field(default=None, ge=1, le=128)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_concurrent_requests: int = Field(default=1024, ge=1)
    request_timeout_seconds: Seconds = 10.0
    max_request_timeout_seconds: Seconds = 60.0
    shutdown_grace_seconds: Seconds = 20.0

    # Storage
    var_dir: Path = Path("var")
    database_url: str | None = None
    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    db_pool_min_size: int = Field(default=2, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=500)
    db_timeout_seconds: Seconds = 5.0
    redis_url: str | None = None
    redis_timeout_seconds: Seconds = 0.5

    # Tokens
    jwt_issuer: str = "order-service"
    jwt_audience: str = "order-service"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    jwt_keys_dir: Path | None = None
    jwt_private_keys: SecretStr | None = None

    # Hot-path caches and the garbage collector (docs/performance.md)
    token_cache_size: int = Field(default=16_384, ge=0, le=10_000_000)  # 0: verify every request
    user_cache_size: int = Field(default=16_384, ge=0, le=10_000_000)  # 0: no in-process cache
    # With Redis, saves are announced (adapters/redis/user_changes.py) and this is a safety
    # net; without, how long another worker's save may go unseen.
    user_cache_ttl_seconds: Seconds = 300.0
    user_cache_redis_ttl_seconds: Seconds = 300.0
    gc_freeze: bool = True  # move start-up objects out of the collector's sight once ready
    # With gc_freeze, freeze again this long after start-up (0: never): see gc_tuning.py.
    gc_warm_freeze_seconds: float = Field(default=60.0, ge=0, le=86_400)
    gc_gen0_threshold: int = Field(default=700, ge=0, le=10_000_000)  # 0: GC disabled

    # Passwords and log-in throttling
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65_536, ge=1024, le=4_194_304)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    password_hash_queue: int = Field(default=64, ge=0)
    login_max_failures_per_email: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=50, ge=1)
    login_failure_window_seconds: Seconds = 900.0

    # Order router. No providers: the built-in provider simulator serves as one (embedded default).
    providers: list[ProviderSettings] | None = None
    dispatch_in_serve: bool = True
    dispatch_workers: int = Field(default=8, ge=1, le=1024)
    dispatch_lease_seconds: Seconds = 30.0
    dispatch_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    dispatch_max_attempts: int = Field(default=6, ge=1, le=100)
    dispatch_backoff_base_seconds: float = Field(default=0.5, gt=0, le=600)
    dispatch_backoff_cap_seconds: float = Field(default=30.0, gt=0, le=3600)
    dispatch_limiter_max_wait_seconds: float = Field(default=1.0, ge=0, le=60)
    breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_reset_seconds: Seconds = 10.0
    rate_limiter_key_prefix: str = "order-service:ratelimit:"
    rate_limiter_fallback_share: float = Field(default=0.25, gt=0, le=1)
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)

    # Images: limits, render pool, cache and blob store (see docs/images.md)
    images_max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    images_max_pixels: int = Field(default=50_000_000, ge=1)
    images_max_side: int = Field(default=2048, ge=16, le=16_384)
    images_allowed_sizes: str = Field(default="", pattern=r"^(\d+x\d+(,\d+x\d+)*)?$")
    images_quality: int = Field(default=80, ge=1, le=100)
    images_render_pool: Literal["process", "thread"] = "process"
    images_render_workers: int = Field(default=1, ge=1, le=64)
    images_render_queue: int = Field(default=8, ge=0, le=10_000)
    images_render_timeout_seconds: Seconds = 30.0
    images_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    images_blob_url: str | None = Field(
        default=None, pattern=r"^(file://.+|s3://[a-z0-9.-]+(/.*)?)$"
    )
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
    log_sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    slow_request_seconds: Seconds = 1.0
    metrics_enabled: bool = True

    @field_validator("providers", mode="before")
    @classmethod
    def _providers_from_json(cls, value: Any) -> Any:  # noqa: ANN401 - raw setting
        # The environment carries the list as JSON; a TOML file carries it as tables.
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("providers")
    @classmethod
    def _unique_provider_ids(
        cls, value: list[ProviderSettings] | None
    ) -> list[ProviderSettings] | None:
        ids = [p.id for p in value or ()]
        if len(ids) != len(set(ids)):
            raise ValueError("provider ids must be unique")
        return value

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env files: env vars only
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - secrets come as env
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


class SettingsError(Exception):
    """A setting is wrong; str(error) is the one line to show the operator."""


def load_settings() -> Settings:
    """Read and validate the settings, raising SettingsError naming the first bad one."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    for variable in sorted(os.environ):
        unknown = variable.startswith(ENV_PREFIX) and variable not in known
        if unknown and not variable.startswith(_NOT_SETTINGS):
            raise SettingsError(f"unknown setting {variable} (is it misspelt?)")
    config_file = os.environ.get(CONFIG_FILE_VARIABLE)
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"{CONFIG_FILE_VARIABLE}={config_file}: no such file")
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = f"{ENV_PREFIX}{str(first['loc'][0]).upper()}" if first["loc"] else "settings"
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None
    except ValueError as error:  # a malformed TOML file
        raise SettingsError(f"{CONFIG_FILE_VARIABLE}={config_file}: {error}") from None

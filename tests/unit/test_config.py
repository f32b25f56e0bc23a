import json
import os
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from order_service.platform.config import (
    SecretStr,
    Settings,
    SettingsError,
    settings_for_display,
)
from order_service.platform.config import load_settings as load_from_environment

Load = Callable[[dict[str, str]], Settings]


@pytest.fixture
def load_settings(monkeypatch: pytest.MonkeyPatch) -> Load:
    """load_settings() with exactly the given ORDER_SERVICE_* variables in the environment."""

    def load(variables: dict[str, str]) -> Settings:
        for name in list(os.environ):
            if name.startswith("ORDER_SERVICE_"):
                monkeypatch.delenv(name)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return load_from_environment()

    return load


def test_the_embedded_default_needs_no_configuration(load_settings: Load) -> None:
    settings = load_settings({})
    assert settings.http_host == "127.0.0.1"
    assert settings.http_port == 8080
    assert settings.effective_database_url == "sqlite:///var/order-service.db"
    assert settings.effective_jwt_keys_dir == Path("var/keys")


def test_environment_variables_set_values(load_settings: Load) -> None:
    settings = load_settings({"ORDER_SERVICE_HTTP_PORT": "9000", "ORDER_SERVICE_WORKERS": "4"})
    assert (settings.http_port, settings.effective_workers) == (9000, 4)


def test_the_embedded_sqlite_store_runs_one_worker_and_a_server_store_one_per_core(
    load_settings: Load,
) -> None:
    assert load_settings({}).effective_workers == 1
    sqlite_file = load_settings({"ORDER_SERVICE_DATABASE_URL": "sqlite:///elsewhere.db"})
    assert sqlite_file.effective_workers == 1
    postgres = load_settings({"ORDER_SERVICE_DATABASE_URL": "postgresql://db.internal/orders"})
    assert postgres.effective_workers == (os.cpu_count() or 1)


def test_workers_set_explicitly_win_over_the_store_default(load_settings: Load) -> None:
    sqlite = load_settings({"ORDER_SERVICE_WORKERS": "3"})
    postgres = load_settings(
        {"ORDER_SERVICE_WORKERS": "1", "ORDER_SERVICE_DATABASE_URL": "postgresql://db/orders"}
    )
    assert (sqlite.effective_workers, postgres.effective_workers) == (3, 1)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORDER_SERVICE_HTTP_PORT", "eighty"),
        ("ORDER_SERVICE_HTTP_PORT", "70000"),
        ("ORDER_SERVICE_WORKERS", "0"),
        ("ORDER_SERVICE_DATABASE_SCHEMA", "Robert'); DROP TABLE users;--"),
        ("ORDER_SERVICE_DATABASE_SCHEMA", "orders\n"),
        ("ORDER_SERVICE_LOG_LEVEL", "LOUD"),
        ("ORDER_SERVICE_GC_FREEZE", "maybe"),
        ("ORDER_SERVICE_REQUEST_TIMEOUT_SECONDS", "nan"),
        ("ORDER_SERVICE_PROVIDERS", "[{"),
        ("ORDER_SERVICE_PROVIDERS", '[{"id": "acme"}]'),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(
    load_settings: Load, variable: str, value: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: value})
    message = str(raised.value)
    assert message.startswith(f"invalid setting {variable}:")
    assert "\n" not in message


def test_a_misspelt_setting_is_reported_instead_of_ignored(load_settings: Load) -> None:
    with pytest.raises(SettingsError, match="unknown setting ORDER_SERVICE_HTTP_PROT"):
        load_settings({"ORDER_SERVICE_HTTP_PROT": "9000"})


def test_a_config_file_sets_values_and_the_environment_overrides_it(
    load_settings: Load, tmp_path: Path
) -> None:
    config = tmp_path / "order-service.toml"
    config.write_text('http_port = 9100\njwt_issuer = "https://auth.example.com"\n')

    settings = load_settings(
        {"ORDER_SERVICE_CONFIG_FILE": str(config), "ORDER_SERVICE_HTTP_PORT": "9200"}
    )

    assert settings.jwt_issuer == "https://auth.example.com"
    assert settings.http_port == 9200


def test_a_missing_config_file_is_reported(load_settings: Load) -> None:
    with pytest.raises(SettingsError, match="no such file"):
        load_settings({"ORDER_SERVICE_CONFIG_FILE": "/nonexistent/order-service.toml"})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("htp_port = 9100", "unknown setting htp_port in ORDER_SERVICE_CONFIG_FILE=.* misspelt"),
        ('http_port = "eighty"', "^invalid setting ORDER_SERVICE_HTTP_PORT: "),
    ],
)
def test_a_mistake_in_the_config_file_names_the_setting(
    load_settings: Load, tmp_path: Path, line: str, expected: str
) -> None:
    config = tmp_path / "order-service.toml"
    config.write_text(f"{line}\n")
    with pytest.raises(SettingsError, match=expected):
        load_settings({"ORDER_SERVICE_CONFIG_FILE": str(config)})


def test_a_malformed_config_file_is_one_line_naming_the_file(
    load_settings: Load, tmp_path: Path
) -> None:
    config = tmp_path / "order-service.toml"
    config.write_text("http_port = \n")
    with pytest.raises(SettingsError) as raised:
        load_settings({"ORDER_SERVICE_CONFIG_FILE": str(config)})
    assert str(raised.value).startswith(f"ORDER_SERVICE_CONFIG_FILE={config}: ")
    assert "\n" not in str(raised.value)


ACME = {
    "id": "acme",
    "endpoint": "https://acme.example/api",
    "regions": ["eu"],
    "rate_per_second": 5,
}


def test_providers_come_as_json_in_the_environment_or_as_tables_in_the_file(
    load_settings: Load, tmp_path: Path
) -> None:
    config = tmp_path / "order-service.toml"
    config.write_text(
        '[[providers]]\nid = "acme"\nendpoint = "https://acme.example/api"\n'
        'regions = ["eu"]\nrate_per_second = 5\n'
    )

    from_environment = load_settings({"ORDER_SERVICE_PROVIDERS": json.dumps([ACME])})
    from_file = load_settings({"ORDER_SERVICE_CONFIG_FILE": str(config)})

    assert from_environment.providers == from_file.providers
    [acme] = from_file.providers or []
    assert (acme.id, acme.regions, acme.skus, acme.rate_per_second) == ("acme", ["eu"], ["*"], 5.0)


def test_provider_ids_must_be_unique(load_settings: Load) -> None:
    with pytest.raises(SettingsError, match="ORDER_SERVICE_PROVIDERS: provider ids must be unique"):
        load_settings({"ORDER_SERVICE_PROVIDERS": json.dumps([ACME, ACME])})


def test_a_bad_provider_field_is_named_with_its_place_in_the_list(load_settings: Load) -> None:
    bad = {**ACME, "endpoint": "ftp://acme.example"}
    with pytest.raises(SettingsError) as raised:
        load_settings({"ORDER_SERVICE_PROVIDERS": json.dumps([ACME | {"id": "b"}, bad])})
    message = str(raised.value)
    assert message.startswith("invalid setting ORDER_SERVICE_PROVIDERS: ")
    assert message.endswith("(at [1].endpoint)")


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("true", True),
        ("1", True),
        ("Yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_booleans_take_the_usual_words(load_settings: Load, word: str, value: bool) -> None:
    assert load_settings({"ORDER_SERVICE_GC_FREEZE": word}).gc_freeze is value


def test_secrets_are_masked_everywhere_but_where_they_are_used(load_settings: Load) -> None:
    settings = load_settings(
        {
            "ORDER_SERVICE_JWT_PRIVATE_KEYS": "pem-hush",
            "ORDER_SERVICE_IMAGES_S3_SECRET_ACCESS_KEY": "s3-hush",
        }
    )

    shown = [repr(settings), str(settings), repr(settings_for_display(settings))]

    assert not any("hush" in text for text in shown)
    assert settings_for_display(settings)["jwt_private_keys"] == "**********"
    assert settings.jwt_private_keys == SecretStr("pem-hush")
    assert settings.jwt_private_keys.get_secret_value() == "pem-hush"
    secret = settings.images_s3_secret_access_key
    assert secret is not None
    assert secret.get_secret_value() == "s3-hush"


def test_every_default_is_a_valid_value() -> None:
    # Defaults skip validation when the settings are read; decoding them all at once does not.
    defaults = msgspec.to_builtins(Settings(), enc_hook=str)
    explicit = msgspec.convert(defaults, Settings, dec_hook=lambda kind, value: kind(value))
    assert explicit == Settings()

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from order_service.platform.config import Settings, SettingsError
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
        ("ORDER_SERVICE_LOG_LEVEL", "LOUD"),
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

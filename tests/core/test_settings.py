"""Settings: environment variables, the TOML config file, tokens and production checks."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.settings import Settings, SyncSettings, load_settings

TOKEN = "ops-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CRM_SYNC_* variable of the caller's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("CRM_SYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def config_file(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "crm-sync.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CRM_SYNC_CONFIG", str(path))
    return path


def test_defaults_are_the_embedded_mode() -> None:
    settings = load_settings()
    assert settings.environment == "development"
    assert settings.embedded is True
    assert settings.database_url is None
    expected = (Path("crm-sync-data") / "crm-sync.db").resolve()
    assert settings.resolved_database_url == f"sqlite:///{expected}"
    assert settings.api_tokens == []
    assert settings.plugins == {}
    assert settings.sync == SyncSettings()


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SYNC_DATABASE_URL", "postgresql+psycopg://db.example/crm")
    monkeypatch.setenv("CRM_SYNC_BROKER_URL", "redis://cache.example:6379/0")
    monkeypatch.setenv("CRM_SYNC_WORKER_THREADS", "3")
    monkeypatch.setenv("CRM_SYNC_SYNC__MAX_ATTEMPTS", "7")
    monkeypatch.setenv("crm_sync_log_level", "DEBUG")
    settings = load_settings()
    assert settings.resolved_database_url == "postgresql+psycopg://db.example/crm"
    assert settings.broker_url == "redis://cache.example:6379/0"
    assert settings.embedded is False
    assert (settings.worker_threads, settings.sync.max_attempts, settings.log_level) == (
        3,
        7,
        "DEBUG",
    )


def test_overrides_in_code_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SYNC_WORKER_THREADS", "3")
    assert load_settings(worker_threads=5).worker_threads == 5


def test_an_unknown_setting_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_file(tmp_path, "worker_thread = 4\n", monkeypatch)
    with pytest.raises(ValidationError, match="worker_thread"):
        load_settings()


def test_the_toml_config_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_file(
        tmp_path,
        f"""
        data_dir = "/var/lib/crm-sync"
        worker_threads = 6
        disabled_plugins = ["whatsapp"]
        api_tokens = [{{ name = "ops", role = "admin", token = "{TOKEN}" }}]

        [sync]
        max_attempts = 5
        batch_size = 50

        [plugins.finance]
        url = "https://erp.example/hooks"
        secret = "whsec_from_the_file"
        """,
        monkeypatch,
    )
    settings = load_settings()
    assert settings.data_dir == Path("/var/lib/crm-sync")
    assert settings.worker_threads == 6
    assert settings.disabled_plugins == ["whatsapp"]
    [token] = settings.api_tokens
    assert (token.name, token.role, token.token.get_secret_value()) == ("ops", "admin", TOKEN)
    assert (settings.sync.max_attempts, settings.sync.batch_size) == (5, 50)
    assert settings.plugins == {
        "finance": {"url": "https://erp.example/hooks", "secret": "whsec_from_the_file"}
    }


def test_environment_variables_beat_the_toml_file_field_by_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config_file(
        tmp_path,
        """
        worker_threads = 6
        [sync]
        max_attempts = 5
        batch_size = 50
        [plugins.finance]
        url = "https://file.example/hooks"
        secret = "whsec_from_the_file"
        """,
        monkeypatch,
    )
    monkeypatch.setenv("CRM_SYNC_WORKER_THREADS", "2")
    monkeypatch.setenv("CRM_SYNC_SYNC__MAX_ATTEMPTS", "9")
    monkeypatch.setenv("CRM_SYNC_PLUGINS__FINANCE__URL", "https://env.example/hooks")
    settings = load_settings()
    assert settings.worker_threads == 2
    assert (settings.sync.max_attempts, settings.sync.batch_size) == (9, 50)
    assert settings.plugins == {
        "finance": {"url": "https://env.example/hooks", "secret": "whsec_from_the_file"}
    }


def test_nested_plugin_settings_come_from_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRM_SYNC_PLUGINS__FINANCE__URL", "https://erp.example/hooks")
    monkeypatch.setenv("CRM_SYNC_PLUGINS__FINANCE__SECRET", "whsec_abc")
    monkeypatch.setenv("CRM_SYNC_PLUGINS__FINANCE__BATCH", "true")
    monkeypatch.setenv("CRM_SYNC_PLUGINS__WHATSAPP__TOKEN", "wa-token")
    assert load_settings().plugins == {
        "finance": {"url": "https://erp.example/hooks", "secret": "whsec_abc", "batch": "true"},
        "whatsapp": {"token": "wa-token"},
    }


def test_a_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRM_SYNC_CONFIG", str(tmp_path / "nowhere.toml"))
    with pytest.raises(FileNotFoundError, match=re.escape("nowhere.toml")):
        load_settings()


def test_a_config_file_that_is_not_toml_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config_file(tmp_path, "worker_threads = = 4\n", monkeypatch)
    with pytest.raises(ValueError, match="line 1"):
        load_settings()


def test_disabled_plugins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SYNC_DISABLED_PLUGINS", " finance,,whatsapp , ")
    assert load_settings().disabled_plugins == ["finance", "whatsapp"]


def test_api_tokens_are_parsed_from_name_role_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CRM_SYNC_API_TOKENS",
        f"ops:admin:{TOKEN}, crm:writer:crm-token-0123456789:with-colons ,bi:reader:{TOKEN[::-1]},",
    )
    tokens = load_settings().api_tokens
    assert [(t.name, t.role, t.token.get_secret_value()) for t in tokens] == [
        ("ops", "admin", TOKEN),
        ("crm", "writer", "crm-token-0123456789:with-colons"),
        ("bi", "reader", TOKEN[::-1]),
    ]
    assert TOKEN not in repr(tokens)


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ("ops:admin", "api_tokens", "name:role:token"),
        (f"ops::{TOKEN}", "api_tokens", "name:role:token"),
        (f":admin:{TOKEN}", "api_tokens", "name:role:token"),
        (f"ops:owner:{TOKEN}", "api_tokens.0.role", "'admin', 'operator', 'writer' or 'reader'"),
        ("ops:admin:too-short", "api_tokens.0.token", "at least 16 characters"),
        (f"ops team:admin:{TOKEN}", "api_tokens.0.name", "pattern"),
    ],
    ids=["no-token", "no-role", "no-name", "unknown-role", "short-token", "bad-name"],
)
def test_bad_api_tokens_are_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, field: str, message: str
) -> None:
    monkeypatch.setenv("CRM_SYNC_API_TOKENS", value)
    with pytest.raises(ValidationError) as raised:
        load_settings()
    [error] = raised.value.errors()
    assert ".".join(str(part) for part in error["loc"]) == field
    assert message in error["msg"]


PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "database_url": "postgresql+psycopg://db.example/crm",
    "broker_url": "redis://cache.example:6379/0",
}


def test_production_accepts_postgresql_a_broker_and_real_tokens() -> None:
    settings = Settings(**PRODUCTION, api_tokens=f"ops:admin:{TOKEN}")
    assert settings.embedded is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"database_url": None}, "database_url: production needs a PostgreSQL database_url"),
        ({"database_url": "sqlite:///crm.db"}, "production needs a PostgreSQL database_url"),
        ({"broker_url": None}, "broker_url: production needs a Redis or RabbitMQ broker_url"),
    ],
    ids=["no-database", "sqlite", "no-broker"],
)
def test_production_refuses_embedded_storage_and_broker(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{**PRODUCTION, **changes})


@pytest.mark.parametrize("placeholder", ["changeme", "change-me", "secret", "token"])
@pytest.mark.parametrize("environment", ["production", "development"])
def test_placeholder_tokens_are_refused(placeholder: str, environment: str) -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(
            **{**PRODUCTION, "environment": environment}, api_tokens=f"ops:admin:{placeholder}"
        )


def test_the_log_level_is_checked_and_case_does_not_matter() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="verbose")


def test_development_allows_the_embedded_default() -> None:
    assert Settings(database_url="sqlite:///crm.db").embedded is True


def test_the_lease_must_outlive_twice_the_push_timeout() -> None:
    assert SyncSettings(push_timeout_seconds=10, lease_seconds=20.5).lease_seconds == 20.5
    for lease in (20, 5):
        with pytest.raises(
            ValidationError, match=re.escape("more than twice sync.push_timeout_seconds")
        ):
            SyncSettings(push_timeout_seconds=10, lease_seconds=lease)


def test_backoff_bounds_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="max_backoff_seconds must not be below"):
        SyncSettings(min_backoff_seconds=10, max_backoff_seconds=5)


@pytest.mark.parametrize(
    "values",
    [
        {"max_attempts": 0},
        {"batch_size": 0},
        {"push_timeout_seconds": 0},
        {"max_inflight_per_plugin": 0},
        {"max_attemps": 3},
    ],
    ids=["attempts", "batch", "timeout", "inflight", "misspelt"],
)
def test_bad_sync_settings_are_refused(values: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        SyncSettings(**values)


def test_sync_settings_from_the_environment_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SYNC_SYNC__LEASE_SECONDS", "15")
    with pytest.raises(ValidationError, match="lease_seconds"):
        load_settings()
    monkeypatch.setenv("CRM_SYNC_SYNC__PUSH_TIMEOUT_SECONDS", "5")
    assert load_settings().sync.lease_seconds == 15


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("environment", "staging"),
        ("max_body_bytes", "100"),
        ("worker_threads", "0"),
        ("queue_prefix", "has space"),
    ],
)
def test_bad_top_level_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(f"CRM_SYNC_{field.upper()}", value)
    with pytest.raises(ValidationError) as raised:
        load_settings()
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]

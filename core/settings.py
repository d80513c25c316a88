"""Settings of a crm-sync process: environment variables, the TOML config file, defaults.

Sources, strongest first: values passed in code, ``CRM_SYNC_*`` environment variables
(nested with ``__``, so ``CRM_SYNC_PLUGINS__FINANCE__URL``), the TOML file named by
``CRM_SYNC_CONFIG``, then defaults. With nothing set, crm-sync runs on the embedded
default: a SQLite file in ``./crm-sync-data`` and an in-process broker.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.schemas.attributes import AttributeCatalog
from kpis.settings import KpiSettings

#: Roles of API tokens: ``reader`` sees, ``writer`` also writes records, ``operator`` also
#: retries and pauses deliveries, ``admin`` may do everything (see core.api.auth.ALLOWS).
Role = Literal["admin", "operator", "writer", "reader"]


class ApiToken(BaseModel):
    """One bearer token of the HTTP API and the role it grants."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    role: Role
    token: SecretStr

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("API tokens must be at least 16 characters long")
        return value


class SyncSettings(BaseModel):
    """How the sync engine retries, leases and batches deliveries."""

    model_config = {"extra": "forbid"}

    max_attempts: int = Field(default=12, ge=1, description="attempts before a delivery is dead")
    min_backoff_seconds: float = Field(default=2.0, gt=0)
    max_backoff_seconds: float = Field(default=3600.0, gt=0)
    wait_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often a delivery waiting on another plugin's document looks again",
    )
    push_timeout_seconds: float = Field(default=10.0, gt=0, description="HTTP timeout of a push")
    lease_seconds: float = Field(
        default=45.0, gt=0, description="how long a claimed delivery is held by one worker"
    )
    sweep_interval_seconds: float = Field(default=2.0, gt=0)
    requeue_after_seconds: float = Field(
        default=30.0, gt=0, description="re-enqueue a due delivery whose message is this old"
    )
    batch_size: int = Field(default=100, ge=1, description="largest batch a backlog is sent in")
    unreachable_hold_seconds: float = Field(
        default=30.0,
        ge=0,
        description="longest wait of a plugin's sends while its target cannot be reached (0: none)",
    )
    max_inflight_per_plugin: int | None = Field(
        default=None, ge=1, description="pushes one plugin may run at once per process"
    )

    @model_validator(mode="after")
    def _lease_outlives_push(self) -> SyncSettings:
        if self.lease_seconds <= 2 * self.push_timeout_seconds:
            raise ValueError("sync.lease_seconds must be more than twice sync.push_timeout_seconds")
        if self.max_backoff_seconds < self.min_backoff_seconds:
            raise ValueError("sync.max_backoff_seconds must not be below sync.min_backoff_seconds")
        return self


class ConsoleSettings(BaseModel):
    """The admin console at ``/admin``: how it shows figures and how long it keeps history."""

    model_config = {"extra": "forbid"}

    language: Literal["fa", "en"] = Field(default="fa", description="default page language")
    calendar: Literal["jalali", "gregorian"] = "jalali"
    digits: Literal["persian", "latin"] = "persian"
    time_zone: str = Field(default="Asia/Tehran", description="zone dates are shown in")
    refresh_seconds: float = Field(default=10.0, ge=2, description="overview self-refresh")
    session_hours: float = Field(default=12.0, gt=0, description="a sign-in lasts this long")
    snapshot_seconds: float = Field(default=60.0, gt=0, description="queue snapshot interval")
    history_days: int = Field(default=90, ge=1, description="hourly and daily history kept")
    minute_history_hours: int = Field(default=48, ge=1, description="per-minute history kept")
    attempts_per_delivery: int = Field(
        default=20, ge=0, description="attempts kept per delivery (0: no attempts log)"
    )
    health_cache_seconds: float = Field(default=30.0, ge=0)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Settings(BaseSettings):
    """Settings of one crm-sync process (API server, worker, scheduler or CLI)."""

    model_config = SettingsConfigDict(
        env_prefix="CRM_SYNC_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("crm-sync-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in data_dir"
    )
    broker_url: str | None = Field(
        default=None, description="redis://... or amqp://...; default: in-process broker"
    )
    queue_prefix: str = Field(default="", pattern=r"^([A-Za-z_][A-Za-z0-9._-]*)?$")
    api_tokens: Annotated[list[ApiToken], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    disabled_plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    worker_threads: int = Field(default=8, ge=1, description="threads of the in-process worker")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    sync: SyncSettings = Field(default_factory=SyncSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    attributes: AttributeCatalog = Field(
        default_factory=AttributeCatalog,
        description="custom attributes of leads and customers: [attributes.lead.<name>]",
    )
    kpis: KpiSettings = Field(default_factory=KpiSettings)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: Any) -> Any:
        """Accept ``name:role:token,name:role:token`` as well as a list of tables."""
        if isinstance(value, str):
            tokens = []
            for item in filter(None, (part.strip() for part in value.split(","))):
                name, _, rest = item.partition(":")
                role, _, token = rest.partition(":")
                if not name or not role or not token:
                    raise ValueError("each API token must be written name:role:token")
                tokens.append({"name": name, "role": role, "token": token})
            return tokens
        return value

    @field_validator("disabled_plugins", mode="before")
    @classmethod
    def _parse_names(cls, value: Any) -> Any:
        """Accept a comma-separated list of plugin names."""
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> Settings:
        """Refuse embedded storage outside development.

        Placeholder API tokens ("changeme", "secret"...) are refused in every environment
        by the tokens' 16-character minimum.
        """
        if self.environment != "production":
            return self
        if self.database_url is None or self.database_url.startswith("sqlite"):
            raise ValueError("database_url: production needs a PostgreSQL database_url")
        if self.broker_url is None:
            raise ValueError("broker_url: production needs a Redis or RabbitMQ broker_url")
        return self

    @property
    def embedded(self) -> bool:
        """True on the embedded default: no broker configured, workers run inside serve."""
        return self.broker_url is None

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crm-sync.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read ``CRM_SYNC_CONFIG`` (TOML) below the environment variables."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("CRM_SYNC_CONFIG")
        if config:
            path = Path(config)
            if not path.is_file():
                raise FileNotFoundError(f"CRM_SYNC_CONFIG names {path}, which does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Load settings from the environment and config file, with ``overrides`` on top."""
    return Settings(**overrides)

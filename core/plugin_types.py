"""The typed objects that pass between core and plugins through the hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from core.errors import SyncError
from core.schemas.base import CanonicalModel


class PluginSettings(BaseModel):
    """Base class of a plugin's settings model.

    Settings come from ``[plugins.NAME]`` in the TOML config file and from
    ``CRM_SYNC_PLUGINS__NAME__FIELD`` environment variables; unknown fields are refused
    so a misspelt setting is an error, not a silent default.
    """

    model_config = ConfigDict(extra="forbid")


@dataclass
class PluginContext:
    """What core hands a plugin on every call.

    ``settings`` is the validated instance of the plugin's settings model; ``http`` is an
    HTTP client that core owns (timeouts, connection pool; tests give it a transport);
    ``cache`` is per-process scratch space the plugin may keep sessions or tokens in.
    """

    name: str
    settings: PluginSettings
    http: httpx.Client
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginDescription:
    """What a configured plugin does.

    ``subscriptions`` lists the document types (``customer``, ``proforma``...) whose
    changes are queued for this plugin; ``target`` is a human-readable description of
    where it sends them, or None when no target is configured (the plugin is then idle);
    ``max_batch`` is how many documents one push may carry (1: no batching).
    """

    subscriptions: tuple[str, ...]
    target: str | None
    max_batch: int = 1


@dataclass(frozen=True)
class SyncRecord:
    """The latest version of one canonical record, as the sync engine loaded it.

    ``external_id`` is the target's id for this record when an earlier push returned one.
    """

    type: str
    id: str
    version: int
    data: CanonicalModel
    updated_at: datetime
    external_id: str | None = None


@dataclass(frozen=True)
class OutboundDocument:
    """One mapped document ready to push.

    ``idempotency_key`` is derived from (plugin, type, id, version): the same version
    always carries the same key, so a target can drop a repeated delivery.
    """

    type: str
    id: str
    version: int
    occurred_at: datetime
    idempotency_key: str
    payload: dict[str, Any]
    external_id: str | None = None


@dataclass(frozen=True)
class PushResult:
    """The outcome of pushing one document: ``error`` is None on success."""

    external_id: str | None = None
    error: SyncError | None = None


@dataclass(frozen=True)
class HealthReport:
    """A plugin's answer to a health check."""

    ok: bool
    detail: str = ""


__all__ = [
    "CanonicalModel",
    "HealthReport",
    "OutboundDocument",
    "PluginContext",
    "PluginDescription",
    "PluginSettings",
    "PushResult",
    "SyncRecord",
]

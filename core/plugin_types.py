"""The typed objects that pass between core and plugins through the hooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict

from core.errors import SyncError
from core.schemas.attributes import AttributeCatalog
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
    ``cache`` is per-process scratch space the plugin may keep sessions or tokens in;
    ``records`` reads and updates canonical records on behalf of this plugin (set once
    the process has a database); ``attributes`` is the custom attributes the settings
    declare for leads and customers, for a plugin that checks its own settings by them.
    """

    name: str
    settings: PluginSettings
    http: httpx.Client
    cache: dict[str, Any] = field(default_factory=dict)
    records: Records | None = None
    attributes: AttributeCatalog = field(default_factory=AttributeCatalog)

    def store(self) -> Records:
        """The records facade; raises if this process has no database."""
        if self.records is None:
            raise RuntimeError("this process has no database to read or write records")
        return self.records


@dataclass(frozen=True)
class PluginDescription:
    """What a configured plugin does.

    ``subscriptions`` lists the document types (``customer``, ``proforma``...) whose
    changes are queued for this plugin; ``target`` is a human-readable description of
    where it sends them, or None when no target is configured (the plugin is then idle);
    ``max_batch`` is how many documents one push may carry (1: no batching);
    ``poll_interval`` (seconds) makes the scheduler call ``crm_sync_poll`` that often;
    ``accepts_webhooks`` opens ``POST /v1/webhooks/{plugin}`` for the target's events;
    ``max_body_bytes`` raises (or lowers) the API's body limit for that route alone, for
    a target whose calls are larger than ``max_body_bytes`` in the settings allows;
    ``webhook_schema`` is the JSON Schema of that route's body, for the OpenAPI document.
    Subscriptions may also name events, as ``event.<type>`` (``event.order.promise_changed``).
    """

    subscriptions: tuple[str, ...]
    target: str | None
    max_batch: int = 1
    poll_interval: float | None = None
    accepts_webhooks: bool = False
    max_body_bytes: int | None = None
    webhook_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SyncRecord:
    """The latest version of one canonical record, as the sync engine loaded it.

    ``external_id`` is the target's id for this record when an earlier push returned one;
    ``created_at`` is when the record was first stored (None where it is not known).
    """

    type: str
    id: str
    version: int
    data: CanonicalModel
    updated_at: datetime
    external_id: str | None = None
    created_at: datetime | None = None


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
    """The outcome of pushing one document: ``error`` is None on success.

    ``note`` is kept on the binding and shown with the sync state: for example that the
    ERP's total differs from the CRM's by a few Rials.
    """

    external_id: str | None = None
    error: SyncError | None = None
    note: str | None = None


@dataclass(frozen=True)
class InboundEvent:
    """Something the target tells us: a status change, an invoice, a delivery.

    ``event_id`` is the sender's id of the event (or, for polled changes, an id made of
    the record and its change time): it deduplicates, so the same event is applied once
    however often it arrives. ``type`` and ``payload`` are the plugin's own.
    """

    event_id: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class PollResult:
    """What one poll found: events, the cursor to resume from, and whether more are waiting."""

    events: list[InboundEvent]
    cursor: str | None
    more: bool = False


@dataclass(frozen=True)
class HealthReport:
    """A plugin's answer to a health check."""

    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Reservation:
    """The answer of ``Records.reserve``: granted or not, and the seconds to wait."""

    granted: bool
    wait: float


@dataclass(frozen=True)
class Contacted:
    """The answer of ``Records.last_inbound``: when the owner last wrote, from which address."""

    at: datetime
    sender: str | None = None


class Records(Protocol):
    """Canonical records as a plugin may read and change them (see core.records)."""

    def get(self, type_: str, record_id: str) -> SyncRecord | None:
        """The latest version of a record, with this plugin's external id; None if unknown."""

    def external_id(self, type_: str, record_id: str) -> str | None:
        """The external id this plugin's target gave a record, if any."""

    def find_by_external_id(self, type_: str, external_id: str) -> str | None:
        """The id of the record this plugin bound to ``external_id``, if any."""

    def find(self, type_: str, field: str, value: str) -> list[SyncRecord]:
        """The records of ``type_`` whose lookup column ``field`` equals ``value``.

        ``field="phone"`` finds customers, contacts or leads listing that phone number.
        """

    def update(
        self,
        type_: str,
        record_id: str,
        changes: dict[str, Any],
        *,
        event: str | None = None,
        create: bool = False,
    ) -> int:
        """Merge ``changes`` into a record (created if ``create``); return its version."""

    def get_many(self, type_: str, record_ids: Sequence[str]) -> dict[str, SyncRecord]:
        """``get`` for many records in two reads: those that exist, by id."""

    def update_many(self, type_: str, changes: Mapping[str, dict[str, Any]]) -> dict[str, int]:
        """``update`` of many records (``changes`` by id) in one write; return each version.

        All merged documents are validated before anything is written (a missing record
        or a bad value is a PermanentError and changes nothing); then one transaction of
        a few statements writes them all, whatever their number.
        """

    def bind(self, type_: str, record_id: str, external_id: str, version: int) -> None:
        """Record that the target holds ``version`` of a record under ``external_id``."""

    def emit(self, type_: str, subject_type: str, subject_id: str, payload: dict[str, Any]) -> str:
        """Publish an event about a record (timeline, subscribers); return its id."""

    def reserve(self, limits: Sequence[tuple[str, float]], *, max_wait: float = 0.0) -> Reservation:
        """Take one moment of each ``(key, interval)`` rate limit, shared by every worker.

        At most one send per ``interval`` seconds under each key (keys are this plugin's
        own). Granted, ``wait`` is the seconds to sleep before sending (at most
        ``max_wait``); refused (a limit is further away), nothing is taken and ``wait`` is
        how long until it frees: the caller raises ``core.WaitingFor``.
        """

    def reserve_many(
        self, sends: Sequence[Sequence[tuple[str, float]]], *, max_wait: float = 0.0
    ) -> list[Reservation]:
        """``reserve`` for several sends in one transaction: one Reservation per send.

        Taken in the order given, each send all or none: a refused send takes nothing,
        and the sends after it are still granted what is free.
        """

    def note_inbound(
        self, owner_type: str, owner_id: str, at: datetime, sender: str | None = None
    ) -> None:
        """Note that a customer or lead (``owner_type``) wrote to this plugin at ``at``.

        Kept per (plugin, owner), moving forward only: an earlier moment noted late
        changes nothing. ``sender`` is the address they wrote from (an E.164 number).
        """

    def last_inbound(self, owner_type: str, owner_id: str) -> Contacted | None:
        """When the owner last wrote to this plugin and from where; None if never noted."""


__all__ = [
    "CanonicalModel",
    "Contacted",
    "HealthReport",
    "InboundEvent",
    "OutboundDocument",
    "PluginContext",
    "PluginDescription",
    "PluginSettings",
    "PollResult",
    "PushResult",
    "Records",
    "Reservation",
    "SyncRecord",
]

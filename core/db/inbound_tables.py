"""Tables of what targets tell us: the inbox of inbound events and the polling cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base
from core.db.sync_tables import DUE_STATES
from core.db.types import JSONDocument, UTCDateTime

#: Inbound event states: pending (to apply), applied, failed (retrying), dead (given up).
APPLIED = "applied"


class InboxEvent(Base):
    """One event a target sent (webhook) or we found (poll), stored before it is applied.

    ``(plugin, event_id)`` is unique: the sender's id deduplicates, so an event that
    arrives twice is applied once. Like the outbox, a worker leases a row while it
    applies it, and the sweeper re-sends rows whose message was lost.
    """

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plugin: Mapped[str] = mapped_column(String(64), nullable=False)
    event_id: Mapped[str] = mapped_column(String(256), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_class: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("plugin", "event_id"),
        Index("ix_inbox_due", "state", "due_at"),
        Index("ix_inbox_plugin_state_due", "plugin", "state", "due_at"),
        Index(
            "ix_inbox_due_leases",
            "plugin",
            "state",
            "lease_until",
            postgresql_where=text(DUE_STATES),
            sqlite_where=text(DUE_STATES),
        ),
    )


class Cursor(Base):
    """Where a plugin's polling of its target stands, saved with the events it found."""

    __tablename__ = "cursors"

    plugin: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    polled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

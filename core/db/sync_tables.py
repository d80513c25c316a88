"""Tables of the sync engine: delivery state, leases, pauses, rate limits, last inbound."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base
from core.db.types import UTCDateTime

#: Delivery states, as the API reports them.
PENDING = "pending"
SYNCED = "synced"
FAILED = "failed"
DEAD = "dead"
DISCARDED = "discarded"
RESOLVED = "resolved"
#: The states a worker still has to act on (the rows it may claim, besides their due time
#: and lease); partial indexes hold only these rows.
DUE_STATES = "state IN ('pending', 'failed')"
#: The due rows a worker holds a lease on (the console's in-flight count).
LEASED_STATES = f"{DUE_STATES} AND lease_until IS NOT NULL"
#: The rows whose last attempt failed with a class of error.
CLASSED = "error_class IS NOT NULL"
#: Failed deliveries that wait on another plugin's document (error class ``waiting-<plugin>``).
WAITING_STATES = "state = 'failed' AND error_class LIKE 'waiting-%'"


class SyncState(Base):
    """One row per (plugin, record): the outbox entry and the binding in one place.

    A change of a record sets ``wanted_version`` and makes the row ``pending`` in the same
    transaction as the change itself, so the database, not the broker, records what
    still has to be sent. ``synced_version`` and ``external_id`` are what the target
    holds, and ``note`` what the target's last answer said about it (a total that
    differs). A worker owns the row while ``lease_until`` is in the future, so two pushes of
    one record to one target never run at once; ``attempts`` counts claims, so a message
    that kills its worker still ends dead after ``max_attempts``. ``due_at`` is when the
    next attempt may run and ``enqueued_at`` when a message for it was last sent (the
    sweeper re-sends one that is overdue). ``discarded`` means an admin gave the delivery
    up, ``resolved`` that an admin settled it by hand; the record's next change queues it
    again. ``error_class`` names the kind of the last error (``http-422``, ``timeout``...).
    """

    __tablename__ = "sync_state"

    plugin: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    wanted_version: Mapped[int] = mapped_column(Integer, nullable=False)
    synced_version: Mapped[int | None] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(256))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_class: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_sync_state_due", "state", "due_at"),
        Index("ix_sync_state_plugin_state_due", "plugin", "state", "due_at"),
        # A freshly queued row has no error class and no lease, so it enters neither
        # of the next two indexes: queueing a backlog writes four index entries a row.
        Index(
            "ix_sync_state_state_class",
            "state",
            "error_class",
            postgresql_where=text(CLASSED),
            sqlite_where=text(CLASSED),
        ),
        Index(
            "ix_sync_state_due_leases",
            "plugin",
            "state",
            "lease_until",
            postgresql_where=text(LEASED_STATES),
            sqlite_where=text(LEASED_STATES),
        ),
        Index(
            "ix_sync_state_waiting",
            "plugin",
            "error_class",
            "lease_until",
            postgresql_where=text(WAITING_STATES),
            sqlite_where=text(WAITING_STATES),
        ),
        # Only the claimable rows, by due time: a claim of the next due rows reads as
        # many index entries as it takes instead of sorting every due row.
        Index(
            "ix_sync_state_claimable",
            "plugin",
            "due_at",
            postgresql_where=text(DUE_STATES),
            sqlite_where=text(DUE_STATES),
        ),
    )


class Lease(Base):
    """A named lease held by one process at a time (the sweeper, the scheduler)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PluginPause(Base):
    """A plugin whose sending is paused: while its row exists no worker claims its deliveries.

    ``paused_by`` names who paused it (an API token's name, ``cli``, or ``plugin`` when the
    plugin's own target refused every document) and ``reason`` says why, for the admins.
    """

    __tablename__ = "plugin_pauses"

    plugin: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    paused_by: Mapped[str] = mapped_column(String(128), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)


class RateSlot(Base):
    """The next free moment (seconds since the epoch) of one rate limit, shared by workers.

    ``key`` names the limit (a plugin's phone number, or one recipient of it); see
    :mod:`core.sync.rate` for how a send reserves its moment atomically.
    """

    __tablename__ = "rate_slots"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, nullable=False)


class LastInbound(Base):
    """When a customer or lead last wrote to a plugin's channel, and from which address.

    One row per (plugin, owner): a messaging plugin's service window (WhatsApp's 24
    hours) is read from here instead of from the owner's whole timeline; see
    :mod:`core.sync.contacts`. ``sender`` is the address the owner wrote from (an E.164
    number), where known.
    """

    __tablename__ = "last_inbound"

    plugin: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sender: Mapped[str | None] = mapped_column(String(64))

"""Tables of the admin console: the attempts log, queue snapshots, the audit and bulk jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base
from core.db.types import JSONDocument, UTCDateTime

#: A 64-bit id on PostgreSQL; SQLite's autoincrementing rowid must be declared INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Directions of the attempts log and the snapshots: outbound pushes, inbound events.
OUT = "out"
IN = "in"


class Attempt(Base):
    """One attempt at a delivery (a push) or an inbound event (applying it), kept for admins.

    The sync engine writes the attempts of one job in a single batched insert when it
    records their outcome; the maintenance loop keeps at most
    ``console.attempts_per_delivery`` of them per delivery. For inbound events ``kind``
    is the event's type and ``record_id`` the inbox row's id. ``outcome`` is ``synced``
    (or ``applied``), ``skipped`` (the target already had that version; nothing was
    sent), ``retry``, ``dead`` or ``held``; ``answer`` is what the target answered on
    success (its id for the record, a note).
    """

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(3), nullable=False)
    plugin: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    error_class: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_attempts_delivery", "direction", "plugin", "record_id", "id"),
        Index("ix_attempts_finished_at", "finished_at"),
    )


class QueueSnapshot(Base):
    """A plugin's queue figures at one time: one row per minute, rolled up per hour and day.

    ``depth`` counts what is still to do (pending, retrying, in flight), ``lag_seconds``
    is the age of the oldest due item, ``done``, ``failures`` and ``attempts`` count the
    attempts of the bucket; ``states`` holds the count of every state. A rolled-up row
    keeps the largest depth and lag of its minutes, the sums of their counts and the
    states of the latest one.
    """

    __tablename__ = "queue_snapshots"

    resolution: Mapped[str] = mapped_column(String(8), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    depth: Mapped[int] = mapped_column(Integer, nullable=False)
    dead: Mapped[int] = mapped_column(Integer, nullable=False)
    lag_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    done: Mapped[int] = mapped_column(Integer, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    states: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)


class StateCount(Base):
    """Changes to the number of deliveries (or inbound events) of a plugin in one state.

    Triggers on ``sync_state`` and ``inbox`` append a row per statement (PostgreSQL) or
    per changed row (SQLite) whenever rows enter or leave a state, so the sum of ``n``
    per (direction, plugin, state) is always the exact count, read without scanning the
    queues. Only appends while the sync job runs, so workers never wait on each other
    here; the maintenance loop folds the rows into one per state now and then.
    """

    __tablename__ = "state_counts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(3), nullable=False)
    plugin: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AuditEntry(Base):
    """One action someone took on the queues: append-only (the database refuses changes).

    ``channel`` is where it was taken (``console``, ``api``, ``cli``, or ``system`` for
    what crm-sync did by itself), ``source`` from where (an address, a host and user),
    ``filter`` the selection it acted on, ``rows`` how many rows it counted or changed.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[str] = mapped_column(String(256), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str | None] = mapped_column(String(256))
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    rows: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class AdminJob(Base):
    """An action on everything a filter matched (or a resync), run in the background.

    ``counted`` jobs wait for confirmation; their rows were fixed when they were
    counted (``admin_job_items``), so a row that enters the filter later is never
    touched. ``processed`` of ``total`` items are done, ``acted`` of them changed and
    ``skipped`` had changed since the count. A resync keeps where it is in ``cursor``.
    """

    __tablename__ = "admin_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    target: Mapped[str] = mapped_column(String(16), nullable=False)
    filter: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    acted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cursor: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class AdminJobItem(Base):
    """One row a counted job will act on, numbered, with the ``due_at`` it had when counted.

    A row whose ``due_at`` (or state) changed since the count is skipped, so the job acts
    only on rows exactly as they were counted.
    """

    __tablename__ = "admin_job_items"

    job_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    plugin: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[str] = mapped_column(String(128), nullable=False)
    stamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class WebSession(Base):
    """A signed-in browser: the hash of its cookie, who signed in, its CSRF token.

    Only the SHA-256 of the cookie's value is stored, so the table cannot be used to
    sign in.
    """

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal: Mapped[str] = mapped_column(String(128), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    csrf: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str] = mapped_column(String(256), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

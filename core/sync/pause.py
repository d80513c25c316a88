"""Pausing a plugin's sending: held in the database, obeyed by every worker at its next claim.

A paused plugin keeps receiving changes: its deliveries stay due in ``sync_state`` and its
lag grows visibly, but no worker claims them, because every claim statement of the engine
carries ``claimable_now`` (one primary-key lookup in a table of a few rows). Pushes already
in flight finish. Resuming deletes the pause and marks the plugin's due deliveries as not
enqueued, so the sweeper sends them at its next pass without waiting for
``requeue_after_seconds``. Inbound events (webhooks, polls) are not paused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    not_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute

from core.db.engine import reading, upsert
from core.db.sync_tables import FAILED, PENDING, PluginPause, SyncState
from core.db.types import utcnow
from core.plugin_types import HealthReport
from core.plugins import PluginHost

#: Who paused a plugin whose own target refused every document (``core.HoldSending``).
BY_PLUGIN = "plugin"

_COLUMNS = (PluginPause.plugin, PluginPause.paused_at, PluginPause.paused_by, PluginPause.reason)


@dataclass(frozen=True)
class Pause:
    """A paused plugin: when, by whom and why."""

    plugin: str
    paused_at: datetime
    paused_by: str
    reason: str


def claimable_now(
    plugin: ColumnElement[str] | InstrumentedAttribute[str] | None = None,
) -> ColumnElement[bool]:
    """The condition "this plugin is not paused", for statements that claim deliveries.

    ``plugin`` is the column or bind parameter naming the plugin; by default the engine's
    ``p_plugin`` bind parameter.
    """
    named = plugin if plugin is not None else bindparam("p_plugin")
    return not_(exists().where(PluginPause.plugin == named))


def pause_in(
    connection: Connection, plugin: str, *, by: str, reason: str, now: datetime | None = None
) -> bool:
    """Pause ``plugin`` inside the caller's transaction; False if it was already paused.

    An existing pause is kept as it is, so the first reason (and who gave it) stays visible.
    """
    insert = upsert(connection.engine, PluginPause).values(
        plugin=plugin, paused_at=now or utcnow(), paused_by=by[:128], reason=reason
    )
    statement = insert.on_conflict_do_nothing(index_elements=[PluginPause.plugin])
    return connection.execute(statement.returning(PluginPause.plugin)).first() is not None


def pause_plugin(
    engine: Engine, plugin: str, *, by: str, reason: str, now: datetime | None = None
) -> bool:
    """Pause ``plugin``'s sending; False if it was already paused."""
    with engine.begin() as connection:
        return pause_in(connection, plugin, by=by, reason=reason, now=now)


def resume_plugin(engine: Engine, plugin: str) -> bool:
    """Resume ``plugin``'s sending; its due deliveries are swept at once. False if not paused."""
    with engine.begin() as connection:
        return resume_in(connection, plugin)


def resume_in(connection: Connection, plugin: str) -> bool:
    """Resume ``plugin`` inside the caller's transaction; False if it was not paused."""
    removed = connection.execute(delete(PluginPause).where(PluginPause.plugin == plugin))
    if not removed.rowcount:
        return False
    connection.execute(
        update(SyncState)
        .where(
            and_(SyncState.plugin == plugin, SyncState.state.in_((PENDING, FAILED))),
        )
        .values(enqueued_at=None)
    )
    return True


def pauses(engine: Engine) -> dict[str, Pause]:
    """Every paused plugin, by name."""
    with reading(engine) as connection:
        rows = connection.execute(select(*_COLUMNS)).all()
    return {row.plugin: Pause(*row) for row in rows}


def pause_of(engine: Engine, plugin: str) -> Pause | None:
    """``plugin``'s pause, or None while it is sending."""
    with reading(engine) as connection:
        row = connection.execute(select(*_COLUMNS).where(PluginPause.plugin == plugin)).first()
    return None if row is None else Pause(*row)


def health_of(engine: Engine, host: PluginHost, plugin: str) -> HealthReport:
    """``plugin``'s health: unhealthy while its sending is paused, else its own health check."""
    pause = pause_of(engine, plugin)
    if pause is not None:
        return HealthReport(ok=False, detail=f"sending paused by {pause.paused_by}: {pause.reason}")
    return host.health(plugin)

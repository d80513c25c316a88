"""When each customer or lead last wrote to a plugin's channel, kept per owner.

A messaging plugin may only write freely to someone who wrote to it recently
(WhatsApp's 24-hour customer service window). Reading that from the owner's timeline
costs a scan of every interaction they have and stops being right past the scan's
limit; instead the plugin notes each inbound message here when it stores it
(:func:`note_inbound`), one row per (plugin, owner), and reads the row back
(:func:`last_inbound`). A row only moves forward: a message noted late (Meta retries
for days, out of order) never moves the moment back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from core.db.engine import reading, upsert
from core.db.sync_tables import LastInbound
from core.plugin_types import Contacted


def note_inbound(
    engine: Engine,
    plugin: str,
    owner_type: str,
    owner_id: str,
    at: datetime,
    sender: str | None,
) -> None:
    """Keep ``at`` (and ``sender``) as the owner's last inbound moment unless a later one is."""
    if at.tzinfo is None:
        raise ValueError("the moment of an inbound message needs a time zone")
    insert = upsert(engine, LastInbound).values(
        plugin=plugin, owner_type=owner_type, owner_id=owner_id, last_at=at, sender=sender
    )
    statement = insert.on_conflict_do_update(
        index_elements=[LastInbound.plugin, LastInbound.owner_type, LastInbound.owner_id],
        set_={"last_at": insert.excluded.last_at, "sender": insert.excluded.sender},
        where=LastInbound.last_at < insert.excluded.last_at,
    )
    with engine.begin() as connection:
        connection.execute(statement)


def last_inbound(engine: Engine, plugin: str, owner_type: str, owner_id: str) -> Contacted | None:
    """When the owner last wrote to ``plugin``'s channel and from where; None if never."""
    statement = select(LastInbound.last_at, LastInbound.sender).where(
        LastInbound.plugin == plugin,
        LastInbound.owner_type == owner_type,
        LastInbound.owner_id == owner_id,
    )
    with reading(engine) as connection:
        row = connection.execute(statement).first()
    return None if row is None else Contacted(at=row.last_at, sender=row.sender)


__all__ = ["last_inbound", "note_inbound"]

"""Named leases in the database: one holder at a time across processes and machines."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, or_

from core.db.engine import upsert
from core.db.sync_tables import Lease
from core.db.types import utcnow


def acquire_lease(
    engine: Engine, name: str, holder: str, ttl_seconds: float, *, now: datetime | None = None
) -> bool:
    """Take or renew lease ``name`` for ``holder``; True when ``holder`` now holds it.

    The lease is free when nobody has it or its holder let it expire (a crashed
    process), so a new holder takes over within ``ttl_seconds``.
    """
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    insert = upsert(engine, Lease).values(name=name, holder=holder, expires_at=expires)
    statement = insert.on_conflict_do_update(
        index_elements=[Lease.name],
        set_={"holder": holder, "expires_at": expires},
        where=or_(Lease.expires_at < now, Lease.holder == holder),
    ).returning(Lease.holder)
    with engine.begin() as connection:
        row = connection.execute(statement).first()
    return row is not None and row.holder == holder


def release_lease(engine: Engine, name: str, holder: str) -> None:
    """Give lease ``name`` up if ``holder`` holds it, so another process can take it at once."""
    with engine.begin() as connection:
        connection.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))

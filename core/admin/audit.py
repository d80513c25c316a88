"""The audit: who did what to the queues, when, from where, on which rows and why.

Every action of the console, the admin API and the CLI goes through :func:`record` in
the transaction that carries the action out, so an action without its audit entry
cannot commit. The table is append-only: the database itself refuses UPDATE and
DELETE on it (triggers made by the migration).
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from core.db.admin_tables import AuditEntry
from core.db.engine import reading
from core.db.types import utcnow

#: Where an action was taken.
CONSOLE = "console"
API = "api"
CLI = "cli"
SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who acts and from where: a token's name and role, the channel, an address or host."""

    name: str
    role: str
    channel: str
    source: str

    @classmethod
    def command_line(cls) -> Actor:
        """The person running the CLI on this machine: their login on this host."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(name=f"cli:{user}", role="admin", channel=CLI, source=socket.gethostname())


@dataclass(frozen=True)
class Entry:
    """One audit entry as it was recorded."""

    id: int
    at: datetime
    actor: str
    role: str
    channel: str
    source: str
    action: str
    target: str | None
    filter: dict[str, Any] | None
    rows: int | None
    reason: str | None
    job_id: int | None
    detail: str | None


def record(
    connection: Connection,
    actor: Actor,
    action: str,
    *,
    target: str | None = None,
    filter: dict[str, Any] | None = None,
    rows: int | None = None,
    reason: str | None = None,
    job_id: int | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> int:
    """Append one entry in the caller's transaction; return its id."""
    statement = (
        insert(AuditEntry)
        .values(
            at=now or utcnow(),
            actor=actor.name[:128],
            role=actor.role[:16],
            channel=actor.channel[:16],
            source=actor.source[:256],
            action=action[:64],
            target=target[:256] if target else None,
            filter=filter,
            rows=rows,
            reason=reason,
            job_id=job_id,
            detail=detail,
        )
        .returning(AuditEntry.id)
    )
    return int(connection.execute(statement).scalar_one())


def entries(
    engine: Engine,
    *,
    before: int | None = None,
    limit: int = 50,
    target: str | None = None,
    job_id: int | None = None,
) -> list[Entry]:
    """Audit entries, newest first, before id ``before`` (keyset paging).

    ``target`` keeps the entries about one delivery (``plugin/kind/id``) or plugin,
    ``job_id`` those of one job.
    """
    statement = select(AuditEntry.__table__)
    if before is not None:
        statement = statement.where(AuditEntry.id < before)
    if target is not None:
        statement = statement.where(AuditEntry.target == target)
    if job_id is not None:
        statement = statement.where(AuditEntry.job_id == job_id)
    statement = statement.order_by(AuditEntry.id.desc()).limit(limit)
    with reading(engine) as connection:
        return [Entry(**row._mapping) for row in connection.execute(statement)]

"""The attempts log: what each attempt at a delivery or an inbound event did, for admins.

The engines add one row per attempt in the transaction that records the outcomes, as
one INSERT per job (on PostgreSQL one statement whatever the number of rows); nothing
else on the hot path. :func:`prune_attempts`
(run by the maintenance loop) keeps the newest ``keep`` attempts of each delivery and
drops attempts older than the history window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, tuple_

from core.db.admin_tables import Attempt
from core.db.engine import reading

#: Longest error or answer text kept per attempt (the sync state keeps the whole last one).
TEXT_LIMIT = 2000

#: Outcomes of an attempt besides the delivery states it leads to.
SKIPPED = "skipped"
HELD = "held"
RETRY = "retry"
#: A delivery that waits on another plugin's document or a rate limit: no attempt spent.
WAITING = "waiting"

INSERT = insert(Attempt)

#: PostgreSQL: every row of a job in one statement from one JSON array, so the SQL text
#: is the same whatever the number of rows and binding it costs one encode (an
#: executemany sends one INSERT per row, a parameter per value).
INSERT_JSON = text(
    "INSERT INTO attempts (direction, plugin, kind, record_id, version, attempt, started_at,"
    " finished_at, duration_ms, outcome, error_class, error, answer)"
    " SELECT direction, plugin, kind, record_id, version, attempt, started_at, finished_at,"
    " duration_ms, outcome, error_class, error, answer"
    " FROM json_populate_recordset(NULL::attempts, CAST(:rows AS json))"
)


def attempt_row(
    *,
    direction: str,
    plugin: str,
    kind: str,
    record_id: str,
    version: int | None,
    attempt: int,
    started_at: datetime,
    finished_at: datetime,
    duration_ms: float | None,
    outcome: str,
    error_class: str | None = None,
    error: str | None = None,
    answer: str | None = None,
) -> dict[str, Any]:
    """The values of one attempts-log row, texts cut to :data:`TEXT_LIMIT`."""
    return {
        "direction": direction,
        "plugin": plugin,
        "kind": kind,
        "record_id": record_id,
        "version": version,
        "attempt": attempt,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_ms": duration_ms,
        "outcome": outcome,
        "error_class": error_class,
        "error": error[:TEXT_LIMIT] if error else None,
        "answer": answer[:TEXT_LIMIT] if answer else None,
    }


def attempts_json(rows: Sequence[dict[str, Any]]) -> str:
    """Attempts-log rows as the JSON array :data:`INSERT_JSON` reads (PostgreSQL).

    Times are written as ``datetime.isoformat`` writes them; orjson encodes a batch's
    rows a tenth as slowly as the standard library, on every job's path.
    """
    return orjson.dumps(list(rows)).decode()


def record_attempts(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the attempts of one job in the caller's transaction, in one statement."""
    if not rows:
        return
    if connection.dialect.name == "postgresql" and len(rows) > 1:
        connection.execute(INSERT_JSON, {"rows": attempts_json(rows)})
    else:
        connection.execute(INSERT, list(rows))


@dataclass(frozen=True)
class AttemptView:
    """One attempt as the console shows it."""

    id: int
    version: int | None
    attempt: int
    started_at: datetime
    finished_at: datetime
    duration_ms: float | None
    outcome: str
    error_class: str | None
    error: str | None
    answer: str | None


def attempts_of(
    engine: Engine, direction: str, plugin: str, kind: str | None, record_id: str
) -> list[AttemptView]:
    """The attempts kept for one delivery (or inbound event), newest first."""
    statement = select(
        Attempt.id,
        Attempt.version,
        Attempt.attempt,
        Attempt.started_at,
        Attempt.finished_at,
        Attempt.duration_ms,
        Attempt.outcome,
        Attempt.error_class,
        Attempt.error,
        Attempt.answer,
    ).where(
        Attempt.direction == direction,
        Attempt.plugin == plugin,
        Attempt.record_id == record_id,
    )
    if kind is not None:
        statement = statement.where(Attempt.kind == kind)
    statement = statement.order_by(Attempt.id.desc()).limit(1000)
    with reading(engine) as connection:
        return [AttemptView(**row._mapping) for row in connection.execute(statement)]


def prune_attempts(
    engine: Engine, *, keep: int, older_than: datetime, since_id: int = 0
) -> tuple[int, int]:
    """Drop attempts beyond the newest ``keep`` per delivery and those before ``older_than``.

    Only deliveries with an attempt after ``since_id`` can have grown past ``keep``, so
    only they are looked at. Returns (rows deleted, the highest id seen), the next
    call's ``since_id``.
    """
    with reading(engine) as connection:
        newest = connection.execute(select(func.max(Attempt.id))).scalar()
    if newest is None:
        return 0, since_id
    key = (Attempt.direction, Attempt.plugin, Attempt.kind, Attempt.record_id)
    grown = (
        select(*key).where(Attempt.id > since_id, Attempt.id <= newest).group_by(*key).subquery()
    )
    ranked = (
        select(
            Attempt.id,
            func.row_number()
            .over(partition_by=list(key), order_by=Attempt.id.desc())
            .label("rank"),
        )
        .where(tuple_(*key).in_(select(*grown.c)))
        .subquery()
    )
    beyond = select(ranked.c.id).where(ranked.c.rank > keep)
    deleted = 0
    with engine.begin() as connection:
        deleted += connection.execute(delete(Attempt).where(Attempt.id.in_(beyond))).rowcount
        deleted += connection.execute(
            delete(Attempt).where(Attempt.finished_at < older_than)
        ).rowcount
    return int(deleted), int(newest)

"""The customer turns of a period, as the average response time reads them.

The turns themselves are kept by :mod:`core.turns` on every interaction write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, literal, select
from sqlalchemy.sql.selectable import Subquery

from core.turns import turn_select, turns
from kpis.queries import Bounds, Dimension, UnsupportedDimension


def turn_pairs(bounds: Bounds, by: Dimension | None) -> Subquery:
    """Per customer turn begun in the period: (group_key, started_at, stopped_at: reply or None)."""
    if by not in (None, "channel"):
        raise UnsupportedDimension(f"average_response_time cannot be broken down by {by}")
    key = turns.c.channel if by == "channel" else literal(None)
    statement = select(
        key.label("group_key"), turns.c.started_at, turns.c.replied_at.label("stopped_at")
    ).where(turns.c.started_at >= bounds.start, turns.c.started_at < bounds.end)
    return statement.subquery()


def latest_reply(connection: Connection) -> datetime | None:
    """The latest reply stored (an index look-up): how far the working days must reach."""
    latest: datetime | None = connection.execute(select(func.max(turns.c.replied_at))).scalar_one()
    return latest


def customer_turns(
    connection: Connection, bounds: Bounds, by: Dimension | None
) -> Sequence[tuple[Any, datetime, datetime | None]]:
    """Per customer turn begun in the period: (group, the message, the first reply or None)."""
    return list(connection.execute(select(turn_pairs(bounds, by))))


def walked_turns(
    connection: Connection, bounds: Bounds, by: Dimension | None
) -> Sequence[tuple[Any, datetime, datetime | None]]:
    """The same as :func:`customer_turns`, computed by walking every timeline instead.

    The reference the stored table is checked against (tests, ``bench/kpi_bench.py``).
    """
    if by not in (None, "channel"):
        raise UnsupportedDimension(f"average_response_time cannot be broken down by {by}")
    walked = turn_select([]).subquery()
    key = walked.c.channel if by == "channel" else literal(None)
    statement = select(key, walked.c.started_at, walked.c.replied_at).where(
        walked.c.started_at >= bounds.start, walked.c.started_at < bounds.end
    )
    return list(connection.execute(statement))


__all__ = ["customer_turns", "latest_reply", "turn_pairs", "walked_turns"]

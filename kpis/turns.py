"""The customer turns of a period, as the average response time reads them.

The turns themselves are kept by :mod:`core.turns` on every interaction write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, literal, select

from core.turns import turn_select, turns
from kpis.queries import Bounds, Dimension, UnsupportedDimension


def customer_turns(
    connection: Connection, bounds: Bounds, by: Dimension | None
) -> Sequence[tuple[Any, datetime, datetime | None]]:
    """Per customer turn begun in the period: (group, the message, the first reply or None)."""
    if by not in (None, "channel"):
        raise UnsupportedDimension(f"average_response_time cannot be broken down by {by}")
    key = turns.c.channel if by == "channel" else literal(None)
    statement = select(key, turns.c.started_at, turns.c.replied_at).where(
        turns.c.started_at >= bounds.start, turns.c.started_at < bounds.end
    )
    return list(connection.execute(statement))


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


__all__ = ["customer_turns", "walked_turns"]

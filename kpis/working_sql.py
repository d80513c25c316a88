"""Working minutes computed by the database, from a table of the calendar's working days.

The response-time KPIs measure hundreds of thousands of spans (a lead's creation to
its first answer, a customer's message to its reply). Instead of converting each pair
in Python, the calendar (lead_scoring's, with its holidays and hours, which are
settings) is turned into a small table of UTC days sent with the query, one row per
day the spans touch: the working seconds of every day before it (a running sum) and
the working intervals inside it. A UTC day meets at most two local days, so at most
two intervals. The working time before an instant is then its day's running sum plus
the part of that day's intervals before it, and a span's working minutes are the
difference of its two ends: one join per end, and the mean and median taken by the
same statement. The calendar is read when the query is built, so a change of hours or
holidays applies to the next figure, past periods included; nothing stored needs
recomputing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    and_,
    case,
    cast,
    column,
    func,
    select,
    text,
    values,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE, Subquery

from lead_scoring.assignment.calendar import BusinessCalendar

DAY = 86_400
#: One working day of the table: (UTC day number, working seconds before it, and two
#: intervals (opens, closes) in epoch seconds; an unused one is empty at the day's start).
#: Whole seconds: opening hours are whole minutes and zone offsets whole seconds.
DayRow = tuple[int, int, int, int, int, int]


def _intervals(
    calendar: BusinessCalendar, zone: ZoneInfo, first: date, last: date
) -> list[tuple[int, int]]:
    """The working intervals of the local days ``first`` to ``last``, in epoch seconds."""
    found = []
    day = first
    while day <= last:
        hours = calendar.interval(day)
        if hours is not None:
            opens = int(datetime.combine(day, hours[0], zone).timestamp())
            closes = int(datetime.combine(day, hours[1], zone).timestamp())
            if closes > opens:
                found.append((opens, closes))
        day += timedelta(days=1)
    return found


def working_days(
    calendar: BusinessCalendar, time_zone: str, first_day: int, last_day: int
) -> list[DayRow]:
    """The table's rows for the UTC days ``first_day`` to ``last_day`` (epoch day numbers)."""
    zone = ZoneInfo(time_zone)

    def local(day: int) -> date:
        return datetime.fromtimestamp(day * DAY, UTC).astimezone(zone).date()

    intervals = _intervals(
        calendar, zone, local(first_day) - timedelta(days=1), local(last_day + 1) + timedelta(1)
    )
    rows: list[DayRow] = []
    before, index = 0, 0
    for day in range(first_day, last_day + 1):
        low, high = day * DAY, (day + 1) * DAY
        while index < len(intervals) and intervals[index][1] <= low:
            index += 1
        parts = []
        for opens, closes in intervals[index:]:
            if opens >= high:
                break
            parts.append((max(opens, low), min(closes, high)))
        if len(parts) > 2:
            raise ValueError(f"more than two working intervals in the UTC day {day}")
        parts += [(low, low)] * (2 - len(parts))
        rows.append((day, before, parts[0][0], parts[0][1], parts[1][0], parts[1][1]))
        before += sum(closes - opens for opens, closes in parts)
    return rows


def epoch(dialect: str, instant: Any) -> ColumnElement[Any]:
    """Seconds since 1970 of a UTC column, to the microsecond.

    SQLite holds the instant as SQLAlchemy writes it, ``YYYY-MM-DD HH:MM:SS.ffffff``:
    whole seconds from ``strftime('%s')``, the fraction from character 20 on. On
    PostgreSQL ``date_part`` gives a double at once (``EXTRACT`` a slower numeric).
    """
    if dialect == "sqlite":
        whole = cast(func.strftime("%s", instant), Integer)
        return whole + cast(func.substr(instant, 20), Float)
    return func.date_part("epoch", instant)


def _day_of(dialect: str, seconds: ColumnElement[Any]) -> ColumnElement[Any]:
    """The UTC day number of an epoch second (every instant here is after 1970)."""
    if dialect == "sqlite":
        return cast(seconds / DAY, Integer)
    return cast(func.floor(seconds / DAY), Integer)


def _before(days: CTE, seconds: ColumnElement[Any]) -> ColumnElement[Any]:
    """Working seconds from the table's first day to ``seconds`` (on that instant's day row)."""

    def inside(opens: Any, closes: Any) -> ColumnElement[Any]:
        return case(
            (seconds <= opens, 0.0), (seconds >= closes, closes - opens), else_=seconds - opens
        )

    return days.c.before + inside(days.c.a1, days.c.b1) + inside(days.c.a2, days.c.b2)


def _day_table(rows: Sequence[DayRow]) -> CTE:
    columns = ("day", "before", "a1", "b1", "a2", "b2")
    kinds = (Integer, BigInteger, BigInteger, BigInteger, BigInteger, BigInteger)
    table = values(*(column(n, t) for n, t in zip(columns, kinds, strict=True)), literal_binds=True)
    return table.data(list(rows)).cte("working_days")


def working_durations(
    connection: Connection,
    pairs: Subquery,
    calendar: BusinessCalendar,
    time_zone: str,
    between: tuple[datetime, datetime],
) -> list[tuple[Any, float | None, float | None, int, int]]:
    """Per group of ``pairs`` (group_key, started_at, stopped_at or None): working minutes.

    Each row is (group, mean, median, answered, unanswered); an answer before its start
    counts 0 minutes. Groups with nothing answered have no mean and no median.
    ``between`` holds the earliest start and the latest stop there can be (the period's
    start, and the latest stop stored or the period's end): the day table covers them,
    and a pair outside it would be left out, so the caller's bounds must hold.
    """
    dialect = connection.dialect.name
    start = epoch(dialect, pairs.c.started_at)
    stop = epoch(dialect, pairs.c.stopped_at)
    ends = select(
        pairs.c.group_key,
        start.label("start"),
        case((stop < start, start), else_=stop).label("stop"),
    ).cte("span_ends")
    if dialect == "postgresql":
        # Computed once per span, not once per use of each end in the sums below.
        ends = ends.prefix_with("MATERIALIZED")
    first, last = (int(instant.timestamp() // DAY) for instant in between)
    days = _day_table(working_days(calendar, time_zone, first, last))
    at_start, at_stop = days.alias("at_start"), days.alias("at_stop")
    worked = _before(at_stop, ends.c.stop) - _before(at_start, ends.c.start)
    measured: Any = (
        select(ends.c.group_key, (worked / 60.0).label("minutes"))
        .select_from(ends)
        .join(at_start, at_start.c.day == _day_of(dialect, ends.c.start))
        .outerjoin(at_stop, at_stop.c.day == _day_of(dialect, ends.c.stop))
        .cte("measured")
    )
    if dialect == "postgresql":
        measured = measured.prefix_with("MATERIALIZED")
    group, minutes = measured.c.group_key, measured.c.minutes
    statement: Any = select(
        group,
        func.avg(minutes),
        _median(dialect, measured),
        func.count(minutes),
        func.count() - func.count(minutes),
    ).group_by(group)
    with _without_jit(connection):
        found = list(connection.execute(statement))
    return [
        (key, _float(mean), _float(median), int(answered), int(unanswered))
        for key, mean, median, answered, unanswered in found
    ]


@contextmanager
def _without_jit(connection: Connection) -> Iterator[None]:
    """Plan the statement without PostgreSQL's JIT compilation, then restore the setting.

    The statement's estimated cost is high enough for JIT, whose compiling took longer
    than it saved: about half of a year's response time (docs/kpis.md, Speed).
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(text("SET jit = off"))
    try:
        yield
    finally:
        connection.execute(text("RESET jit"))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _median(dialect: str, measured: Any) -> Any:
    """The median of ``measured.minutes`` per group: the mean of the two middle values."""
    minutes = measured.c.minutes
    if dialect == "postgresql":
        return func.percentile_cont(0.5).within_group(minutes)
    # SQLite has no percentile: the middle one or two of each group's values, by rank.
    ranked = select(
        minutes.label("value"),
        func.row_number().over(partition_by=measured.c.group_key, order_by=minutes).label("rank"),
        func.count(minutes).over(partition_by=measured.c.group_key).label("answered"),
        measured.c.group_key.label("group_key"),
    ).where(minutes.is_not(None))
    inner = ranked.subquery("ranked")
    middle = and_(
        inner.c.rank >= (inner.c.answered + 1) // 2,
        inner.c.rank <= (inner.c.answered + 2) // 2,
        inner.c.group_key.is_not_distinct_from(measured.c.group_key),
    )
    return select(func.avg(inner.c.value)).where(middle).scalar_subquery()


__all__ = ["DayRow", "epoch", "working_days", "working_durations"]

"""The KPI report: every figure of a period, against its target and the previous period.

One read connection serves the whole report. For each KPI it holds the figure of the
period, of the previous period, the colour against the target, the trend over the last
``trend_periods`` periods (the sparkline), and, when asked, the figures per group, each
judged against its team's target when grouped by team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from core.db.engine import reading
from kpis.catalog import CATALOG, KPIS, Context, Figure, Kpi
from kpis.periods import Period
from kpis.queries import Bounds, Dimension, lost_reasons
from kpis.settings import KpiSettings, KpiTarget
from kpis.status import Status, change, status
from lead_scoring.assignment.calendar import BusinessCalendar


class UnknownKpi(KeyError):
    """A KPI name the catalogue does not hold."""


@dataclass(frozen=True)
class GroupLine:
    """One group's figure (an agent's, a source's) and its colour."""

    key: str | None
    figure: Figure
    status: Status


@dataclass(frozen=True)
class KpiLine:
    """One KPI in a report."""

    kpi: Kpi
    figure: Figure
    previous: Figure
    status: Status
    target: KpiTarget | None
    trend: list[tuple[Period, float | None]]
    groups: list[GroupLine] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        """The change from the previous period, in the KPI's unit."""
        return change(self.figure.value, self.previous.value)


@dataclass(frozen=True)
class Report:
    """The KPIs of one period, optionally broken down by one dimension."""

    period: Period
    by: Dimension | None
    lines: list[KpiLine]
    lost_reasons: list[tuple[str, int]]


def _bounds(period: Period) -> Bounds:
    return Bounds(period.start, period.end)


def _sort_key(line: GroupLine) -> tuple[int, str]:
    return (line.key is None, line.key or "")


def build_report(
    engine: Engine,
    settings: KpiSettings,
    calendar: BusinessCalendar,
    period: Period,
    *,
    by: Dimension | None = None,
    names: list[str] | None = None,
    trend: bool = True,
) -> Report:
    """Compute the KPIs ``names`` (all by default) for ``period``, grouped ``by`` if given.

    Raises UnknownKpi for a name the catalogue lacks and UnsupportedDimension when a
    named KPI cannot be broken down ``by`` (with all KPIs, those that cannot are shown
    without groups).
    """
    chosen = list(CATALOG) if names is None else [_kpi(name) for name in names]
    context = Context(calendar, settings.time_zone, settings.gross_margin / 100)
    periods = period.trend(settings.trend_periods) if trend else [period]
    previous = period.previous()
    lines = []
    with reading(engine) as connection:
        for kpi in chosen:
            target = settings.target(kpi.name)
            figure = kpi.figures(connection, _bounds(period), None, context)[None]
            before = kpi.figures(connection, _bounds(previous), None, context)[None]
            points = [
                (p, figure.value if p == period else _value(kpi, connection, p, context))
                for p in periods
            ]
            groups = []
            if by is not None and (names is not None or by in kpi.dimensions):
                for key, group in kpi.figures(connection, _bounds(period), by, context).items():
                    applies = target.for_team(key) if target and by == "team" else target
                    groups.append(GroupLine(key, group, status(applies, group.value, None)))
                groups.sort(key=_sort_key)
            lines.append(
                KpiLine(
                    kpi,
                    figure,
                    before,
                    status(target, figure.value, before.value),
                    target,
                    points,
                    groups,
                )
            )
        reasons = lost_reasons(connection, _bounds(period))
    return Report(period, by, lines, reasons)


def _kpi(name: str) -> Kpi:
    try:
        return KPIS[name]
    except KeyError:
        raise UnknownKpi(name) from None


def _value(kpi: Kpi, connection: Any, period: Period, context: Context) -> float | None:
    return kpi.figures(connection, _bounds(period), None, context)[None].value


__all__ = ["GroupLine", "KpiLine", "Report", "UnknownKpi", "build_report"]

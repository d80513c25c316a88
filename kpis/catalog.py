"""Every KPI: its name, unit, the dimensions it breaks down by, and how it is computed.

A KPI turns the rows of :mod:`kpis.queries` into :class:`Figure` values, one per group.
A figure whose denominator is zero, or that has nothing to measure, has ``value``
None: "no data", never 0% and never an error (docs/kpis.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.sql.selectable import Subquery

from kpis import queries, revenue_queries, service_queries, turns
from kpis.queries import Bounds, ClosedFigures, Dimension, UnsupportedDimension
from kpis.revenue_queries import Revenue
from kpis.service_queries import Resolutions
from kpis.working_sql import working_durations
from lead_scoring.assignment.calendar import BusinessCalendar

Unit = Literal["percent", "minutes", "days", "count", "rials", "rials_per_day", "score", "points"]


@dataclass(frozen=True)
class Figure:
    """One KPI value for one group, with what it was computed from.

    ``value`` is None when there is no data. ``numerator`` and ``denominator`` are
    given for ratios; ``count`` is how many items the figure measured; ``details``
    holds the rest (a median, how many leads are still unanswered).
    """

    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    count: int = 0
    details: dict[str, float | int | None] = field(default_factory=dict)


@dataclass
class Context:
    """What a computation needs besides the database: the calendar, its time zone, the margin.

    ``margin`` is the gross margin as a fraction (0.6 for 60%), which the customer
    lifetime value multiplies by. Query results are kept for the lifetime of the
    context, so KPIs computed from the same rows (win rate, cycle length, velocity, the
    revenue figures) read the database once.
    """

    calendar: BusinessCalendar
    time_zone: str = "Asia/Tehran"
    margin: float = 1.0
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def closed(
        self, connection: Connection, bounds: Bounds, by: Dimension | None
    ) -> dict[Any, ClosedFigures]:
        """The closed-opportunity figures of ``bounds`` grouped ``by`` (read once)."""
        key = ("closed", bounds, by)
        if key not in self._memo:
            self._memo[key] = queries.closed_opportunities(connection, bounds, by)
        result: dict[Any, ClosedFigures] = self._memo[key]
        return result

    def days(self, bounds: Bounds) -> tuple[date, date]:
        """The first day of ``bounds`` and the day after its last, in the reporting zone."""
        zone = ZoneInfo(self.time_zone)
        return bounds.start.astimezone(zone).date(), bounds.end.astimezone(zone).date()

    def revenue(
        self, connection: Connection, bounds: Bounds, by: Dimension | None
    ) -> dict[Any, Revenue]:
        """The recurring revenue at the start and end of ``bounds`` grouped ``by`` (read once)."""
        key = ("revenue", bounds, by)
        if key not in self._memo:
            self._memo[key] = revenue_queries.revenue(connection, *self.days(bounds), by)
        result: dict[Any, Revenue] = self._memo[key]
        return result


Compute = Callable[[Connection, Bounds, Dimension | None, Context], dict[Any, Figure]]


@dataclass(frozen=True)
class Kpi:
    """One KPI of the catalogue."""

    name: str
    unit: Unit
    dimensions: tuple[Dimension, ...]
    compute: Compute

    def figures(
        self, connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
    ) -> dict[Any, Figure]:
        """The KPI's figures per group; UnsupportedDimension for a dimension it lacks."""
        if by is not None and by not in self.dimensions:
            allowed = ", ".join(self.dimensions) or "nothing"
            raise UnsupportedDimension(
                f"{self.name} cannot be broken down by {by}; it can be by {allowed}"
            )
        return self.compute(connection, bounds, by, context)


def ratio(numerator: float, denominator: float) -> Figure:
    """``numerator`` / ``denominator`` x 100, or no data when the denominator is 0."""
    value = numerator * 100.0 / denominator if denominator else None
    return Figure(value, numerator, denominator, int(denominator))


def _lead_to_opportunity(
    connection: Connection, bounds: Bounds, by: Dimension | None, _context: Context
) -> dict[Any, Figure]:
    rows = queries.lead_to_opportunity(connection, bounds, by)
    if by is None and not rows:
        rows = {None: (0, 0)}
    return {group: ratio(made, qualified) for group, (made, qualified) in rows.items()}


def _total(rows: dict[Any, Any], by: Dimension | None, empty: Any) -> dict[Any, Any]:
    """The rows, with the whole-organisation row present even when nothing matched."""
    if by is None and None not in rows:
        return {None: empty}
    return rows


_NO_CLOSED = ClosedFigures(0, 0, 0.0, 0.0, None, 0)


def _opportunity_to_order(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    rows = _total(context.closed(connection, bounds, by), by, _NO_CLOSED)
    return {group: ratio(f.won, f.closed) for group, f in rows.items()}


def _win_rate_by_value(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    rows = _total(context.closed(connection, bounds, by), by, _NO_CLOSED)
    result = {}
    for group, f in rows.items():
        figure = ratio(f.won_amount, f.closed_amount)
        result[group] = Figure(figure.value, f.won_amount, f.closed_amount, f.closed)
    return result


def _cycle_length(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    rows = _total(context.closed(connection, bounds, by), by, _NO_CLOSED)
    return {group: Figure(f.won_cycle_days, count=f.won) for group, f in rows.items()}


def _mean_won(figures: ClosedFigures) -> float | None:
    return figures.won_amount / figures.won_with_amount if figures.won_with_amount else None


def _average_won_value(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    rows = _total(context.closed(connection, bounds, by), by, _NO_CLOSED)
    return {
        group: Figure(_mean_won(f), f.won_amount, f.won_with_amount, f.won_with_amount)
        for group, f in rows.items()
    }


def _pipeline_velocity(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    closed = context.closed(connection, bounds, by)
    still_open = queries.open_at_end(connection, bounds, by)
    result = {}
    for group in _total(closed, by, _NO_CLOSED).keys() | still_open.keys():
        f = closed.get(group, _NO_CLOSED)
        n_open = still_open.get(group, 0)
        mean_won = _mean_won(f)
        value = None
        if mean_won is not None and f.closed and f.won_cycle_days:
            value = n_open * mean_won * (f.won / f.closed) / f.won_cycle_days
        result[group] = Figure(
            value,
            count=n_open,
            details={
                "open": n_open,
                "average_won_value": mean_won,
                "win_rate": f.won * 100.0 / f.closed if f.closed else None,
                "cycle_days": f.won_cycle_days,
            },
        )
    return result


def _durations(
    connection: Connection,
    pairs: Subquery,
    spans: tuple[Bounds, datetime | None],
    by: Dimension | None,
    context: Context,
) -> dict[Any, Figure]:
    """Mean and median working minutes per group; unanswered items counted apart.

    ``spans`` holds the period the pairs start in and the latest stop stored.
    """
    bounds, latest = spans
    between = (bounds.start, max(latest or bounds.end, bounds.end))
    rows = working_durations(connection, pairs, context.calendar, context.time_zone, between)
    result = {
        group: Figure(mean, count=answered, details={"median": median, "unanswered": unanswered})
        for group, mean, median, answered, unanswered in rows
    }
    return _total(result, by, Figure(None, details={"median": None, "unanswered": 0}))


def _first_response_time(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    spans = (bounds, queries.latest_first_response(connection))
    return _durations(connection, queries.first_responses(bounds, by), spans, by, context)


def _average_response_time(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    spans = (bounds, turns.latest_reply(connection))
    return _durations(connection, turns.turn_pairs(bounds, by), spans, by, context)


def _on_time_follow_up(
    connection: Connection, bounds: Bounds, by: Dimension | None, _context: Context
) -> dict[Any, Figure]:
    rows = _total(queries.follow_ups(connection, bounds, by), by, (0, 0))
    return {group: ratio(done, due) for group, (done, due) in rows.items()}


def _touchpoints(
    connection: Connection, bounds: Bounds, by: Dimension | None, _context: Context
) -> dict[Any, Figure]:
    rows = _total(queries.touchpoints(connection, bounds, by), by, (None, 0))
    return {group: Figure(mean, count=n) for group, (mean, n) in rows.items()}


def _first_contact_resolution(
    connection: Connection, bounds: Bounds, by: Dimension | None, _context: Context
) -> dict[Any, Figure]:
    rows = _total(service_queries.resolutions(connection, bounds, by), by, Resolutions(0, 0, 0, 0))
    return {
        group: replace(
            ratio(r.first_contact, r.with_agent),
            details={"reopened": r.reopened, "untouched": r.untouched},
        )
        for group, r in rows.items()
    }


def _csat(
    connection: Connection, bounds: Bounds, by: Dimension | None, _context: Context
) -> dict[Any, Figure]:
    rows = service_queries.ratings(connection, bounds, by, "csat")
    return _total({g: Figure(r.mean, count=r.answers) for g, r in rows.items()}, by, Figure(None))


def _csat_satisfied(
    connection: Connection, bounds: Bounds, by: Dimension | None, _context: Context
) -> dict[Any, Figure]:
    rows = service_queries.ratings(connection, bounds, by, "csat")
    return _total({g: ratio(r.high, r.answers) for g, r in rows.items()}, by, ratio(0, 0))


def _nps(
    connection: Connection, bounds: Bounds, by: Dimension | None, _context: Context
) -> dict[Any, Figure]:
    rows = service_queries.ratings(connection, bounds, by, "nps")
    result = {}
    for group, r in rows.items():
        value = (r.high - r.low) * 100.0 / r.answers if r.answers else None
        details: dict[str, float | int | None] = {"promoters": r.high, "detractors": r.low}
        result[group] = Figure(value, count=r.answers, details=details)
    return _total(result, by, Figure(None, details={"promoters": 0, "detractors": 0}))


_NO_REVENUE = Revenue(0, 0.0, 0, 0.0, 0, 0.0)


def _revenue(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Revenue]:
    rows: dict[Any, Revenue] = _total(context.revenue(connection, bounds, by), by, _NO_REVENUE)
    return rows


def _closing(revenue: Revenue, months: int) -> float | None:
    """``months`` x the MRR at the period's end; no data when no subscription runs then."""
    return revenue.closing_mrr * months if revenue.closing_customers else None


def _mrr(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    return {
        group: Figure(_closing(r, 1), count=r.closing_customers, details={"opening": r.opening_mrr})
        for group, r in _revenue(connection, bounds, by, context).items()
    }


def _arr(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    return {
        group: Figure(_closing(r, 12), count=r.closing_customers)
        for group, r in _revenue(connection, bounds, by, context).items()
    }


def _mrr_growth(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    result = {}
    for group, r in _revenue(connection, bounds, by, context).items():
        figure = ratio(r.closing_mrr - r.opening_mrr, r.opening_mrr)
        result[group] = Figure(figure.value, figure.numerator, r.opening_mrr, r.opening_customers)
    return result


def _customer_churn(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    return {
        group: ratio(r.lost_customers, r.opening_customers)
        for group, r in _revenue(connection, bounds, by, context).items()
    }


def _revenue_churn(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    result = {}
    for group, r in _revenue(connection, bounds, by, context).items():
        figure = ratio(r.lost_mrr, r.opening_mrr)
        result[group] = Figure(figure.value, r.lost_mrr, r.opening_mrr, r.opening_customers)
    return result


def _months(bounds: Bounds) -> int:
    """How many months ``bounds`` spans (a Jalali or Gregorian month, quarter or year)."""
    return max(round((bounds.end - bounds.start).days / 30.4375), 1)


def _clv(
    connection: Connection, bounds: Bounds, by: Dimension | None, context: Context
) -> dict[Any, Figure]:
    result = {}
    months = _months(bounds)
    for group, r in _revenue(connection, bounds, by, context).items():
        arpa = r.opening_mrr / r.opening_customers if r.opening_customers else None
        churn = r.lost_customers / r.opening_customers / months if r.opening_customers else None
        value = arpa * context.margin / churn if arpa is not None and churn else None
        result[group] = Figure(
            value,
            count=r.opening_customers,
            details={
                "average_monthly_revenue": arpa,
                "monthly_churn": churn * 100 if churn is not None else None,
                "lifetime_months": 1 / churn if churn else None,
                "margin": context.margin * 100,
            },
        )
    return result


_S = queries.SUPPORTED
_CARE = service_queries.SUPPORTED
_MONEY = revenue_queries.SUPPORTED

#: The KPIs, in the order the dashboard shows them.
CATALOG: tuple[Kpi, ...] = (
    Kpi("lead_to_opportunity", "percent", _S["lead_to_opportunity"], _lead_to_opportunity),
    Kpi("opportunity_to_order", "percent", _S["closed"], _opportunity_to_order),
    Kpi("first_response_time", "minutes", _S["first_response"], _first_response_time),
    Kpi("average_response_time", "minutes", _S["response"], _average_response_time),
    Kpi("on_time_follow_up", "percent", _S["follow_up"], _on_time_follow_up),
    Kpi("touchpoints_to_conversion", "count", _S["touchpoints"], _touchpoints),
    Kpi("win_rate_by_value", "percent", _S["closed"], _win_rate_by_value),
    Kpi("average_won_value", "rials", _S["closed"], _average_won_value),
    Kpi("cycle_length", "days", _S["closed"], _cycle_length),
    Kpi("pipeline_velocity", "rials_per_day", _S["closed"], _pipeline_velocity),
    Kpi("first_contact_resolution", "percent", _CARE["resolution"], _first_contact_resolution),
    Kpi("csat", "score", _CARE["satisfaction"], _csat),
    Kpi("csat_satisfied", "percent", _CARE["satisfaction"], _csat_satisfied),
    Kpi("nps", "points", _CARE["satisfaction"], _nps),
    Kpi("mrr", "rials", _MONEY, _mrr),
    Kpi("arr", "rials", _MONEY, _arr),
    Kpi("mrr_growth", "percent", _MONEY, _mrr_growth),
    Kpi("customer_churn", "percent", _MONEY, _customer_churn),
    Kpi("revenue_churn", "percent", _MONEY, _revenue_churn),
    Kpi("customer_lifetime_value", "rials", _MONEY, _clv),
)
KPIS: dict[str, Kpi] = {kpi.name: kpi for kpi in CATALOG}

__all__ = ["CATALOG", "KPIS", "Context", "Figure", "Kpi", "Unit", "ratio"]

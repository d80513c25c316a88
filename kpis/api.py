"""The KPI routes: ``GET /v1/kpis`` (every KPI of a period) and ``GET /v1/kpis/{name}``.

Both need the ``reader`` role. ``period`` is written as in docs/kpis.md (``1404-07``,
``1404-Q3``, ``2025-10``); without it, the current month of the configured calendar.
``by`` breaks the figures down by agent, team, source, channel or product line. A
period that cannot be read, an unknown dimension, or one a KPI lacks is refused with
422 and a problem body; an unknown KPI is 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from core.api.auth import Principal, require
from core.api.problems import Problem
from core.api.records import runtime_of
from core.db.types import utcnow
from core.schemas.base import ID_PATTERN, MAX_ID
from kpis.catalog import KPIS, Figure, Unit
from kpis.csv_export import report_rows
from kpis.downloads import download, right_to_left, wanted_format
from kpis.funnel import Funnel, FunnelDimension, funnel
from kpis.funnel_rows import funnel_rows
from kpis.money import toman_report_rows, toman_rows
from kpis.periods import Period, PeriodError, current_period, parse_period
from kpis.pipeline import board, card_rows
from kpis.queries import Bounds, Dimension, UnsupportedDimension
from kpis.report import GroupLine, KpiLine, Report, UnknownKpi, build_report
from kpis.settings import Direction, KpiSettings
from kpis.status import Status
from kpis.xlsx_export import XLSX_TYPE
from lead_scoring.assignment.calendar import BusinessCalendar
from lead_scoring.assignment.service import rules_from_environment

router = APIRouter(prefix="/v1/kpis", tags=["kpis"])
Reader = Annotated[Principal, Depends(require("reader"))]
#: How the OpenAPI document spells a period: a Jalali year 1000-1699 or a Gregorian one
#: 1700-8999, then a month or a quarter (the API also reads Persian digits and spaces).
PERIOD_PATTERN = r"^(1[0-9]|[2-8][0-9])[0-9]{2}(-(0[1-9]|1[0-2]|[Qq][1-4]))?$"
PeriodQuery = Annotated[
    str | None,
    Query(
        max_length=16,
        json_schema_extra={"pattern": PERIOD_PATTERN},
        description="1404-07 (Jalali month), 1404-Q3, 1404, 2025-10 (Gregorian); "
        "the current month by default",
    ),
]
ByQuery = Annotated[Dimension | None, Query(description="break the figures down by")]


class PeriodOut(BaseModel):
    """A reporting period and its bounds (UTC instants, end excluded)."""

    label: str
    calendar: str
    unit: str
    start: datetime
    end: datetime
    previous: str


class TargetOut(BaseModel):
    """A KPI's target."""

    direction: Direction
    value: float | None
    high: float | None
    amber: float


class TrendPoint(BaseModel):
    """One period of a sparkline."""

    period: str
    value: float | None


class GroupOut(BaseModel):
    """One group's figure; ``key`` is null for records with no agent, source..."""

    key: str | None
    value: float | None
    numerator: float | None
    denominator: float | None
    count: int
    details: dict[str, float | int | None]
    status: Status


class KpiOut(BaseModel):
    """One KPI: the figure (null = no data), target, colour, previous period and trend."""

    name: str
    unit: Unit
    dimensions: list[str]
    value: float | None
    numerator: float | None
    denominator: float | None
    count: int
    details: dict[str, float | int | None]
    previous: float | None
    change: float | None
    status: Status
    target: TargetOut | None
    trend: list[TrendPoint]
    groups: list[GroupOut]


class LostReasonOut(BaseModel):
    """How many opportunities were lost for one reason."""

    reason: str
    count: int


class ReportOut(BaseModel):
    """The KPIs of one period."""

    period: PeriodOut
    by: Dimension | None
    kpis: list[KpiOut]
    lost_reasons: list[LostReasonOut]


def period_out(period: Period) -> PeriodOut:
    """Render a period."""
    return PeriodOut(
        label=period.label,
        calendar=period.calendar,
        unit=period.unit,
        start=period.start,
        end=period.end,
        previous=period.previous().label,
    )


def _figure(figure: Figure) -> dict[str, Any]:
    return {
        "value": figure.value,
        "numerator": figure.numerator,
        "denominator": figure.denominator,
        "count": figure.count,
        "details": figure.details,
    }


def _group(line: GroupLine) -> GroupOut:
    return GroupOut(key=line.key, status=line.status, **_figure(line.figure))


def kpi_out(line: KpiLine) -> KpiOut:
    """Render one KPI line of a report."""
    target = line.target
    return KpiOut(
        name=line.kpi.name,
        unit=line.kpi.unit,
        dimensions=list(line.kpi.dimensions),
        previous=line.previous.value,
        change=line.change,
        status=line.status,
        target=TargetOut(
            direction=target.direction, value=target.value, high=target.high, amber=target.amber
        )
        if target
        else None,
        trend=[TrendPoint(period=p.label, value=v) for p, v in line.trend],
        groups=[_group(g) for g in line.groups],
        **_figure(line.figure),
    )


def report_out(report: Report) -> ReportOut:
    """Render a report."""
    return ReportOut(
        period=period_out(report.period),
        by=report.by,
        kpis=[kpi_out(line) for line in report.lines],
        lost_reasons=[LostReasonOut(reason=r, count=n) for r, n in report.lost_reasons],
    )


def kpi_settings(request: Request) -> KpiSettings:
    """The process's KPI settings."""
    settings: KpiSettings = runtime_of(request).settings.kpis
    return settings


def business_calendar(request: Request) -> BusinessCalendar:
    """The SLA's business calendar, read once per application."""
    calendar: BusinessCalendar | None = getattr(request.app.state, "kpi_calendar", None)
    if calendar is None:
        calendar = rules_from_environment().calendar.build()
        request.app.state.kpi_calendar = calendar
    return calendar


def resolve_period(settings: KpiSettings, text: str | None) -> Period:
    """The period ``text`` names, or the current month; Problem 422 when unreadable."""
    if text is None:
        return current_period(utcnow(), calendar=settings.calendar, time_zone=settings.time_zone)
    try:
        return parse_period(text, time_zone=settings.time_zone)
    except PeriodError as error:
        raise Problem(
            422, "invalid-period", str(error), errors=[{"field": "period", "message": str(error)}]
        ) from None


def report_for(
    request: Request, period: str | None, by: Dimension | None, names: list[str] | None
) -> Report:
    """Build the report the query asks for, mapping bad input to problems."""
    settings = kpi_settings(request)
    try:
        return build_report(
            runtime_of(request).engine,
            settings,
            business_calendar(request),
            resolve_period(settings, period),
            by=by,
            names=names,
        )
    except UnknownKpi as error:
        raise Problem(404, "not-found", f"there is no KPI named {error.args[0]!r}") from None
    except UnsupportedDimension as error:
        raise Problem(
            422,
            "unsupported-dimension",
            str(error),
            errors=[{"field": "by", "message": str(error)}],
        ) from None


FormatQuery = Annotated[
    Literal["json", "csv", "xlsx"] | None,
    Query(
        alias="format",
        description="json (default), csv or xlsx; an Accept of text/csv or of the XLSX "
        "type also works",
    ),
]
LanguageQuery = Annotated[
    Literal["fa", "en"] | None,
    Query(
        alias="lang",
        description="the XLSX sheet is right-to-left for fa; by default from Accept-Language, "
        "else the console's language",
    ),
]

CurrencyQuery = Annotated[
    Literal["rials", "toman"] | None,
    Query(
        description="CSV and XLSX only: amounts in Toman (Rials / 10) when toman, columns "
        "renamed; Rials by default. JSON is always in Rials",
    ),
]


def export_response(
    request: Request,
    kind: str,
    rows: Iterable[Sequence[Any]],
    *,
    name: str,
    title: str,
    language: str | None,
) -> StreamingResponse:
    """``rows`` (header first) as a streamed CSV or XLSX download named ``name``."""
    default = runtime_of(request).settings.console.language
    return download(
        rows, kind, name=name, title=title, rtl=right_to_left(request, language, default)
    )


@router.get(
    "",
    summary="Every KPI of a period against its target",
    response_model=ReportOut,
    responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
)
def list_kpis(
    request: Request,
    _: Reader,
    period: PeriodQuery = None,
    by: ByQuery = None,
    output: FormatQuery = None,
    language: LanguageQuery = None,
    currency: CurrencyQuery = None,
) -> Any:
    """Every KPI; with ``by``, those that can be broken down that way also per group.

    As CSV (``?format=csv`` or ``Accept: text/csv``): UTF-8 with a BOM, one row per
    KPI and per group, streamed, formula-looking text neutralised. As XLSX
    (``?format=xlsx`` or the XLSX type in Accept): the same rows in a sheet,
    right-to-left for Persian, numbers as numbers, built in constant memory.
    """
    report = report_for(request, period, by, None)
    kind = wanted_format(request, output)
    if kind != "json":
        name = f"kpis-{report.period.label}{'-' + report.by if report.by else ''}"
        rows: Iterable[Sequence[Any]] = report_rows(report)
        if currency == "toman":
            rows = toman_report_rows(rows)
        return export_response(request, kind, rows, name=name, title="KPIs", language=language)
    return report_out(report)


@router.get(
    "/{name}",
    summary="One KPI of a period, per group if asked",
    response_model=KpiOut,
    responses={404: {"description": "no such KPI"}},
)
def get_kpi(
    request: Request,
    _: Reader,
    name: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z_]+$")],
    period: PeriodQuery = None,
    by: ByQuery = None,
) -> KpiOut:
    """One KPI; 422 when it cannot be broken down ``by``."""
    if name not in KPIS:
        raise Problem(404, "not-found", f"there is no KPI named {name!r}")
    return kpi_out(report_for(request, period, by, [name]).lines[0])


pipeline_router = APIRouter(prefix="/v1/pipeline", tags=["kpis"])


class CardOut(BaseModel):
    """One opportunity on the board; ``amount`` in Rials."""

    id: str
    title: str
    customer_id: str
    owner_id: str | None
    amount: float | None
    probability: int | None
    expected_close_date: date | None
    product_line: str | None


class StageOut(BaseModel):
    """One stage of the board: totals in Rials and its first cards."""

    name: str
    count: int
    value: float
    weighted_value: float
    without_probability: int
    cards: list[CardOut]


class ForecastOut(BaseModel):
    """The weighted value expected to close in one month (Jalali or Gregorian)."""

    month: str
    weighted_value: float


class BoardOut(BaseModel):
    """The open pipeline per stage and its forecast."""

    stages: list[StageOut]
    forecast: list[ForecastOut]
    undated_weighted_value: float


@pipeline_router.get(
    "",
    summary="The pipeline board and its forecast",
    response_model=BoardOut,
    responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
)
def get_pipeline(
    request: Request,
    _: Reader,
    owner: Annotated[str | None, Query(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="cards per stage")] = 50,
    output: FormatQuery = None,
    language: LanguageQuery = None,
    currency: CurrencyQuery = None,
) -> Any:
    """Open opportunities per stage with value and weighted value; forecast per month.

    As CSV or XLSX (``format`` or Accept, as for the KPIs): every open opportunity, one
    row each (``limit`` does not apply), amounts in Rials, expected close in ISO and
    Jalali, streamed from the database.
    """
    kind = wanted_format(request, output)
    if kind != "json":
        rows: Iterable[Sequence[Any]] = card_rows(runtime_of(request).engine, owner=owner)
        if currency == "toman":
            rows = toman_rows(rows)
        name = f"pipeline{'-' + owner if owner else ''}"
        return export_response(request, kind, rows, name=name, title="Pipeline", language=language)
    settings = kpi_settings(request)
    found = board(runtime_of(request).engine, calendar=settings.calendar, owner=owner, limit=limit)
    return BoardOut(
        stages=[
            StageOut(
                name=s.name,
                count=s.count,
                value=s.value,
                weighted_value=s.weighted_value,
                without_probability=s.without_probability,
                cards=[CardOut(**asdict(card)) for card in s.cards],
            )
            for s in found.stages
        ],
        forecast=[ForecastOut(month=m, weighted_value=v) for m, v in found.forecast],
        undated_weighted_value=found.undated_weighted_value,
    )


funnel_router = APIRouter(prefix="/v1/funnel", tags=["kpis"])


class FunnelStageOut(BaseModel):
    """One stage: leads that reached it, drop-off to the next (%), median days in it."""

    name: str
    count: int
    drop_off: float | None
    median_days: float | None
    timed: int


class FunnelOut(BaseModel):
    """The funnel of one cohort; ``key`` is the source, null for the whole period."""

    key: str | None
    stages: list[FunnelStageOut]


class FunnelReportOut(BaseModel):
    """The funnel of the leads created in a period, and per source if asked."""

    period: PeriodOut
    by: str | None
    funnel: FunnelOut
    groups: list[FunnelOut]


def funnel_out(found: Funnel) -> FunnelOut:
    """A funnel as the API writes it."""
    return FunnelOut(
        key=found.key, stages=[FunnelStageOut(**asdict(stage)) for stage in found.stages]
    )


@funnel_router.get(
    "",
    summary="The funnel of a period's leads",
    response_model=FunnelReportOut,
    responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
)
def get_funnel(
    request: Request,
    _: Reader,
    period: PeriodQuery = None,
    by: Annotated[
        FunnelDimension | None, Query(description="split by the lead's source or channel")
    ] = None,
    output: FormatQuery = None,
    language: LanguageQuery = None,
) -> Any:
    """Leads created in the period reaching MQL, SQL, opportunity and won; see docs/kpis.md.

    As CSV or XLSX (``format`` or Accept, as for the KPIs): one row per stage, the whole
    period's funnel first, then each group's.
    """
    chosen = resolve_period(kpi_settings(request), period)
    whole, groups = funnel(runtime_of(request).engine, Bounds(chosen.start, chosen.end), by)
    kind = wanted_format(request, output)
    if kind != "json":
        rows = funnel_rows(chosen, whole, groups, by)
        name = f"funnel-{chosen.label}{'-' + by if by else ''}"
        return export_response(request, kind, rows, name=name, title="Funnel", language=language)
    return FunnelReportOut(
        period=period_out(chosen),
        by=by,
        funnel=funnel_out(whole),
        groups=[funnel_out(group) for group in groups],
    )


__all__ = ["funnel_router", "pipeline_router", "router"]

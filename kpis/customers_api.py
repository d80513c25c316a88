"""``GET /v1/customer-trend``: customers new, returning and lost per period (``reader``).

``period`` is the last period of the trend (the current month by default) and
``periods`` how many periods it shows, oldest first (the configured sparkline length
by default). As CSV or XLSX (``format`` or Accept, as for the KPIs) one row a period,
with the period's start in ISO and Jalali. docs/kpis.md states the definitions.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from core.api.records import runtime_of
from kpis.api import (
    FormatQuery,
    LanguageQuery,
    PeriodOut,
    PeriodQuery,
    Reader,
    export_response,
    kpi_settings,
    period_out,
    resolve_period,
)
from kpis.customers import customer_trend
from kpis.customers_rows import trend_rows
from kpis.downloads import wanted_format
from kpis.xlsx_export import XLSX_TYPE

router = APIRouter(prefix="/v1/customer-trend", tags=["kpis"])


class CustomerPeriodOut(BaseModel):
    """One period's customers; ``lost_rate`` is null (no data) when none were active."""

    period: PeriodOut
    new: int
    returning: int
    won_back: int
    lost: int
    active: int
    active_at_start: int
    lost_rate: float | None


class CustomerTrendOut(BaseModel):
    """The periods of the trend, oldest first, and the window after which a customer is lost."""

    lost_after_days: int
    periods: list[CustomerPeriodOut]


@router.get(
    "",
    summary="Customers new, returning and lost per period",
    response_model=CustomerTrendOut,
    responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
)
def get_customer_trend(
    request: Request,
    _: Reader,
    period: PeriodQuery = None,
    periods: Annotated[
        int | None, Query(ge=1, le=36, description="periods in the trend, ending with period")
    ] = None,
    output: FormatQuery = None,
    language: LanguageQuery = None,
) -> Any:
    """The trend ending with ``period``; a purchase is a won opportunity (docs/kpis.md)."""
    settings = kpi_settings(request)
    chosen = resolve_period(settings, period)
    trend = customer_trend(
        runtime_of(request).engine,
        chosen,
        periods=periods or settings.trend_periods,
        lost_after_days=settings.lost_after_days,
    )
    kind = wanted_format(request, output)
    if kind != "json":
        name = f"customers-{chosen.label}"
        rows = trend_rows(trend)
        return export_response(request, kind, rows, name=name, title="Customers", language=language)
    return CustomerTrendOut(
        lost_after_days=settings.lost_after_days,
        periods=[
            CustomerPeriodOut(
                period=period_out(c.period),
                new=c.new,
                returning=c.returning,
                won_back=c.won_back,
                lost=c.lost,
                active=c.active,
                active_at_start=c.active_at_start,
                lost_rate=c.lost_rate,
            )
            for c in trend
        ],
    )


__all__ = ["router"]

"""The sales pages of the web console: the KPI dashboard at ``/admin/kpis``.

Built on the console's web base (:class:`core.web.WebSite`): the same sign-in, roles
(``reader`` sees the KPIs), CSRF-protected preferences, Persian RTL or English, Jalali
or Gregorian dates and Content-Security-Policy. Everything is drawn on the server:
each KPI's colour is written out in words beside it (never colour alone), and the
sparkline is inline SVG with its values in its accessible name. The table downloads
as XLSX (right-to-left when the page is Persian) or CSV from
``/admin/kpis/export.xlsx`` and ``.csv`` with the page's period and breakdown.
"""

from collections.abc import Iterable
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from markupsafe import Markup

from core.db.types import utcnow
from core.sync.runtime import SyncRuntime
from core.web import Locale, NavItem, Viewer, WebSite
from kpis.catalog import Unit
from kpis.csv_export import report_rows
from kpis.customers import CustomerCounts, customer_trend
from kpis.customers_rows import trend_rows
from kpis.downloads import download
from kpis.funnel import Funnel, funnel
from kpis.funnel_rows import funnel_rows
from kpis.money import (
    CURRENCIES,
    TOMAN_UNITS,
    Currency,
    currency_of,
    in_currency,
    toman_report_rows,
)
from kpis.periods import Period, PeriodError, current_period, parse_period
from kpis.queries import DIMENSIONS, Bounds, Dimension, UnsupportedDimension
from kpis.report import Report, build_report
from kpis.settings import KpiTarget
from lead_scoring.assignment.service import rules_from_environment

#: Places after the decimal point per unit.
PLACES: dict[str, int] = {
    "percent": 1,
    "minutes": 1,
    "days": 1,
    "count": 1,
    "rials": 0,
    "rials_per_day": 0,
    "score": 2,
    "points": 1,
    "toman": 0,
    "toman_per_day": 0,
}
SPARK_WIDTH, SPARK_HEIGHT = 120, 28
FUNNEL_WIDTH = 160


def format_value(loc: Locale, unit: Unit, value: float | None, currency: Currency = "rials") -> str:
    """A KPI value in the reader's digits with its unit (Rials or Toman); "no data" for None."""
    if value is None:
        return loc.t("kpis.no_data")
    shown: str = unit
    if currency == "toman" and unit in TOMAN_UNITS:
        value, shown = in_currency(value, currency), TOMAN_UNITS[unit]
    return loc.t(f"kpis.units.{shown}", n=loc.number(value, PLACES[shown]))


def format_target(loc: Locale, unit: Unit, target: KpiTarget | None) -> str:
    """A target in words: ``at least 35.0%``, ``between 3.0 and 5.0``, ``rising``."""
    if target is None:
        return loc.t("kpis.no_target")
    if target.direction == "rising":
        return loc.t("kpis.directions.rising")
    value = format_value(loc, unit, target.value)
    high = format_value(loc, unit, target.high) if target.high is not None else ""
    return loc.t(f"kpis.directions.{target.direction}", value=value, high=high)


def sparkline(loc: Locale, label: str, points: list[tuple[Period, float | None]]) -> Markup:
    """An inline SVG sparkline; its accessible name lists every period and value."""
    known = [value for _, value in points if value is not None]
    words = "; ".join(
        f"{loc.digits(period.label)}: {loc.number(value, 1) if value is not None else '-'}"
        for period, value in points
    )
    name = f"{label}: {words}"
    if not known:
        return Markup('<span class="muted" role="img" aria-label="{}">-</span>').format(name)
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / max(1, len(points) - 1)
    coords = [
        f"{i * step:.1f},{SPARK_HEIGHT - 3 - (value - low) / span * (SPARK_HEIGHT - 6):.1f}"
        for i, (_, value) in enumerate(points)
        if value is not None
    ]
    return Markup(
        '<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"'
        ' aria-label="{name}"><polyline fill="none" stroke="currentColor" stroke-width="2"'
        ' points="{p}"/></svg>'
    ).format(w=SPARK_WIDTH, h=SPARK_HEIGHT, name=name, p=" ".join(coords))


def funnel_bar(count: int, largest: int) -> Markup:
    """A stage's bar, as wide as its share of the largest stage.

    Hidden from screen readers, which read the same figure in the table beside it.
    """
    width = round(FUNNEL_WIDTH * count / largest) if largest else 0
    return Markup(
        '<svg class="funnel-bar" width="{w}" height="14" aria-hidden="true" focusable="false">'
        '<rect x="0" y="2" width="{n}" height="10" fill="currentColor"/></svg>'
    ).format(w=FUNNEL_WIDTH, n=width)


class SalesPages:
    """The KPI pages' routes on a :class:`WebSite`."""

    def __init__(self, site: WebSite, runtime: SyncRuntime) -> None:
        self.site = site
        self.runtime = runtime
        self.settings = runtime.settings.kpis
        self.calendar = rules_from_environment().calendar.build()
        site.add_package("kpis")
        site.nav.append(NavItem(f"{site.prefix}/kpis", "nav.kpis"))
        self.router = APIRouter(prefix=site.prefix, include_in_schema=False)
        self._pages()

    def _pages(self) -> None:
        site, router = self.site, self.router
        reader = Annotated[Viewer, Depends(site.viewer("reader"))]

        @router.get("/kpis", response_class=HTMLResponse)
        def dashboard(
            request: Request,
            viewer: reader,
            period: Annotated[str | None, Query(max_length=16)] = None,
            by: Annotated[str | None, Query(max_length=32)] = None,
            currency: Annotated[str | None, Query(max_length=8)] = None,
        ) -> HTMLResponse:
            chosen, report, error = self._report(period, by)
            return self._page(request, viewer, chosen, report, error, period, by, currency)

        @router.get("/kpis/export.{kind}", response_model=None)
        def export(
            request: Request,
            viewer: reader,
            kind: Literal["csv", "xlsx"],
            period: Annotated[str | None, Query(max_length=16)] = None,
            by: Annotated[str | None, Query(max_length=32)] = None,
            currency: Annotated[str | None, Query(max_length=8)] = None,
        ) -> HTMLResponse | StreamingResponse:
            chosen, report, error = self._report(period, by)
            if report is None:
                return self._page(request, viewer, chosen, report, error, period, by, currency)
            name = f"kpis-{report.period.label}{'-' + report.by if report.by else ''}"
            rows: Iterable[Any] = report_rows(report)
            if currency == "toman":
                rows = toman_report_rows(rows)
            rtl = site.locale(request).direction == "rtl"
            return download(rows, kind, name=name, title="KPIs", rtl=rtl)

        @router.get("/kpis/funnel.{kind}", response_model=None)
        def funnel_export(
            request: Request,
            viewer: reader,
            kind: Literal["csv", "xlsx"],
            period: Annotated[str | None, Query(max_length=16)] = None,
        ) -> HTMLResponse | StreamingResponse:
            chosen, report, error = self._report(period, None)
            if report is None:
                return self._page(request, viewer, chosen, report, error, period, None)
            whole, groups = funnel(self.runtime.engine, Bounds(chosen.start, chosen.end))
            rows = funnel_rows(chosen, whole, groups, None)
            rtl = site.locale(request).direction == "rtl"
            return download(rows, kind, name=f"funnel-{chosen.label}", title="Funnel", rtl=rtl)

        @router.get("/kpis/customers.{kind}", response_model=None)
        def customers_export(
            request: Request,
            viewer: reader,
            kind: Literal["csv", "xlsx"],
            period: Annotated[str | None, Query(max_length=16)] = None,
        ) -> HTMLResponse | StreamingResponse:
            chosen, report, error = self._report(period, None)
            if report is None:
                return self._page(request, viewer, chosen, report, error, period, None)
            trend = customer_trend(
                self.runtime.engine,
                chosen,
                periods=self.settings.trend_periods,
                lost_after_days=self.settings.lost_after_days,
            )
            rtl = site.locale(request).direction == "rtl"
            name = f"customers-{chosen.label}"
            return download(trend_rows(trend), kind, name=name, title="Customers", rtl=rtl)

    def _report(
        self, period: str | None, by: str | None
    ) -> tuple[Period, Report | None, str | None]:
        """The period asked for, its report, or the message key saying why there is none."""
        error = None
        chosen = current_period(
            utcnow(), calendar=self.settings.calendar, time_zone=self.settings.time_zone
        )
        if period:
            try:
                chosen = parse_period(period, time_zone=self.settings.time_zone)
            except PeriodError:
                error = "kpis.errors.period"
        dimension: Dimension | None = None
        if by:
            if by in DIMENSIONS:
                dimension = by
            else:
                error = "kpis.errors.dimension"
        report: Report | None = None
        if error is None:
            try:
                report = build_report(
                    self.runtime.engine, self.settings, self.calendar, chosen, by=dimension
                )
            except UnsupportedDimension:
                error = "kpis.errors.dimension"
        return chosen, report, error

    def _page(
        self,
        request: Request,
        viewer: Viewer,
        chosen: Period,
        report: Report | None,
        error: str | None,
        period: str | None,
        by: str | None,
        currency: str | None = None,
    ) -> HTMLResponse:
        """The dashboard of ``report`` and its funnel, or the form with ``error`` (422).

        Amounts are shown in the ``currency`` asked for, else the configured one; the
        export links carry the currency only when it was asked for.
        """
        shown = currency_of(currency, self.settings.currency)
        stages: Funnel | None = None
        customers: list[CustomerCounts] = []
        if report is not None:
            stages = funnel(self.runtime.engine, Bounds(chosen.start, chosen.end))[0]
            customers = customer_trend(
                self.runtime.engine,
                chosen,
                periods=self.settings.trend_periods,
                lost_after_days=self.settings.lost_after_days,
            )
        return self.site.render(
            request,
            "kpis/dashboard.html",
            viewer,
            status=200 if error is None else 422,
            report=report,
            error=error,
            period_text=period or chosen.label,
            by=by or "",
            dimensions=DIMENSIONS,
            value_of=partial(format_value, currency=shown),
            currency=shown,
            currency_asked=currency if currency in CURRENCIES else "",
            currencies=CURRENCIES,
            target_of=format_target,
            sparkline=sparkline,
            funnel=stages,
            funnel_bar=funnel_bar,
            customers=customers,
            customer_sparks={
                name: [(c.period, float(getattr(c, name))) for c in customers]
                for name in ("new", "returning", "lost")
            },
            lost_after_days=self.settings.lost_after_days,
        )

    def install(self, app: FastAPI) -> None:
        """Add the pages' routes to ``app``."""
        app.include_router(self.router)


def mount_sales_pages(app: FastAPI, site: WebSite, runtime: SyncRuntime) -> SalesPages:
    """Serve the KPI pages on ``site`` (the console's) in ``app``."""
    pages = SalesPages(site, runtime)
    pages.install(app)
    return pages


__all__ = [
    "SalesPages",
    "format_target",
    "format_value",
    "funnel_bar",
    "mount_sales_pages",
    "sparkline",
]

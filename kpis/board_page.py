"""The pipeline board page of the web console at ``/admin/pipeline``: a column per stage.

Each column shows the stage's open opportunities (soonest expected close first), how
many there are, their value and weighted value, in Rials or Toman as the reader asks
(``?currency=``, else ``[kpis] currency``); below, the forecast of weighted value per
month of expected close in the reader's calendar. Expected close dates are Jalali or
Gregorian as the reader prefers, the other calendar on hover. The board downloads as
CSV or XLSX (every open opportunity, amounts in Rials unless Toman is asked for).
"""

import re
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from markupsafe import Markup

from core.locale import format_jalali
from core.schemas.base import ID_PATTERN
from core.sync.runtime import SyncRuntime
from core.web import Locale, NavItem, Viewer, WebSite
from kpis.downloads import download
from kpis.money import CURRENCIES, currency_of, toman_rows
from kpis.pages import format_value, funnel_bar
from kpis.periods import Calendar
from kpis.pipeline import board, card_rows

#: Cards shown per column; the export has them all.
CARDS_PER_STAGE = 50


def day_text(loc: Locale, day: date | None) -> Markup:
    """A ``<time>`` of a calendar day in the reader's calendar, the other one on hover."""
    if day is None:
        return Markup('<span class="muted">{}</span>').format(loc.t("board.no_date"))
    jalali = format_jalali(day)
    iso = day.isoformat()
    shown, other = (jalali, iso) if loc.prefs.calendar == "jalali" else (iso, jalali)
    return Markup('<time datetime="{iso}" title="{title}">{text}</time>').format(
        iso=iso, title=loc.digits(other), text=loc.digits(shown)
    )


class BoardPage:
    """The board's routes on a :class:`WebSite`."""

    def __init__(self, site: WebSite, runtime: SyncRuntime) -> None:
        self.site = site
        self.runtime = runtime
        self.settings = runtime.settings.kpis
        site.nav.append(NavItem(f"{site.prefix}/pipeline", "nav.board"))
        self.router = APIRouter(prefix=site.prefix, include_in_schema=False)
        self._routes()

    def _routes(self) -> None:
        site, router = self.site, self.router
        reader = Annotated[Viewer, Depends(site.viewer("reader"))]
        Owner = Annotated[str | None, Query(max_length=128)]
        Money = Annotated[str | None, Query(max_length=8)]

        @router.get("/pipeline", response_class=HTMLResponse)
        def board_page(
            request: Request, viewer: reader, owner: Owner = None, currency: Money = None
        ) -> HTMLResponse:
            return self._page(request, viewer, owner, currency)

        @router.get("/pipeline/export.{kind}", response_model=None)
        def board_export(
            request: Request,
            viewer: reader,
            kind: Literal["csv", "xlsx"],
            owner: Owner = None,
            currency: Money = None,
        ) -> HTMLResponse | StreamingResponse:
            if owner and not re.match(ID_PATTERN, owner):
                return self._page(request, viewer, owner, currency)
            rows: Iterable[Any] = card_rows(self.runtime.engine, owner=owner or None)
            if currency == "toman":
                rows = toman_rows(rows)
            rtl = site.locale(request).direction == "rtl"
            name = f"pipeline{'-' + owner if owner else ''}"
            return download(rows, kind, name=name, title="Pipeline", rtl=rtl)

    def _page(
        self, request: Request, viewer: Viewer, owner: str | None, currency: str | None
    ) -> HTMLResponse:
        """The board of ``owner`` (everyone's when empty), or the form explaining a bad owner."""
        loc = self.site.locale(request)
        shown = currency_of(currency, self.settings.currency)
        error = None
        found = None
        if owner and not re.match(ID_PATTERN, owner):
            error = "board.errors.owner"
        else:
            calendar: Calendar = "jalali" if loc.prefs.calendar == "jalali" else "gregorian"
            found = board(
                self.runtime.engine,
                calendar=calendar,
                owner=owner or None,
                limit=CARDS_PER_STAGE,
            )
        query = {k: v for k, v in (("owner", owner), ("currency", currency)) if v}
        largest = max((round(value) for _, value in found.forecast), default=0) if found else 0
        return self.site.render(
            request,
            "kpis/board.html",
            viewer,
            status=200 if error is None else 422,
            found=found,
            error=error,
            owner=owner or "",
            currency=shown,
            currencies=CURRENCIES,
            export_query=query,
            money=lambda loc, value: format_value(loc, "rials", value, shown),
            percent=lambda loc, value: format_value(loc, "percent", value),
            day_text=day_text,
            bar=funnel_bar,
            largest=largest,
        )

    def install(self, app: FastAPI) -> None:
        """Add the board's routes to ``app``."""
        app.include_router(self.router)


__all__ = ["CARDS_PER_STAGE", "BoardPage", "day_text"]

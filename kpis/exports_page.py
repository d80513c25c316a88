"""The exports page of the web console at ``/admin/exports``: any record list to CSV or XLSX.

A form (GET, so it changes nothing) picks the list, its filters, the format and the
currency; ``/admin/exports/download`` streams the file through the same writers as
``crm-sync export`` and ``GET /v1/<kind>?format=``, right to left when the page is
Persian. A filter the list lacks is explained on the form (422) and nothing is sent.
"""

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from core.list_filters import FILTER_NAMES, FILTERS, UnknownFilter
from core.sync.runtime import SyncRuntime
from core.web import Locale, NavItem, Viewer, WebSite
from kpis.downloads import download
from kpis.money import CURRENCIES, toman_rows
from kpis.record_export import LIST_KINDS, record_rows

Text = Annotated[str | None, Query(max_length=200)]


def kind_label(loc: Locale, kind: str) -> str:
    """A list's name in the reader's language; its URL name for a kind without one."""
    key = f"exports.kinds.{kind}"
    return loc.t(key) if key in loc.catalog.messages["en"] else kind


def applies_to(name: str) -> list[str]:
    """The lists that have the filter ``name``."""
    return [kind for kind, names in FILTERS.items() if name in names]


class ExportsPage:
    """The exports page's routes on a :class:`WebSite`."""

    def __init__(self, site: WebSite, runtime: SyncRuntime) -> None:
        self.site = site
        self.runtime = runtime
        site.nav.append(NavItem(f"{site.prefix}/exports", "nav.exports"))
        self.router = APIRouter(prefix=site.prefix, include_in_schema=False)
        self._routes()

    def _routes(self) -> None:
        site, router = self.site, self.router
        reader = Annotated[Viewer, Depends(site.viewer("reader"))]

        @router.get("/exports", response_class=HTMLResponse)
        def exports_page(request: Request, viewer: reader) -> HTMLResponse:
            return self._page(request, viewer, {}, None)

        @router.get("/exports/download", response_model=None)
        def exports_download(
            request: Request,
            viewer: reader,
            kind: Annotated[str, Query(max_length=64)],
            output: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "xlsx",
            currency: Annotated[str | None, Query(max_length=8)] = None,
            q: Text = None,
            status: Text = None,
            owner: Text = None,
            source: Text = None,
            stage: Text = None,
            customer: Text = None,
            lead: Text = None,
            channel: Text = None,
            direction: Text = None,
        ) -> HTMLResponse | StreamingResponse:
            given = {
                "status": status, "owner": owner, "source": source, "stage": stage,
                "customer": customer, "lead": lead, "channel": channel, "direction": direction,
            }  # fmt: skip
            filters = {name: value for name, value in given.items() if value}
            chosen = {"kind": kind, "format": output, "currency": currency or "", "q": q or ""}
            chosen.update(filters)
            if kind not in LIST_KINDS:
                return self._page(request, viewer, chosen, ("exports.errors.kind", {}))
            loc = site.locale(request)
            for name in filters:
                if name not in FILTERS.get(kind, {}):
                    words = {
                        "kind": kind_label(loc, kind),
                        "filter": loc.t(f"exports.filter_names.{name}"),
                    }
                    return self._page(request, viewer, chosen, ("exports.errors.filter", words))
            try:
                rows: Iterable[Any] = record_rows(
                    self.runtime.engine,
                    kind,
                    filters=filters,
                    q=q or None,
                    time_zone=self.runtime.settings.kpis.time_zone,
                )
            except UnknownFilter:
                words = {"kind": kind_label(loc, kind)}
                return self._page(request, viewer, chosen, ("exports.errors.search", words))
            if currency == "toman":
                rows = toman_rows(rows)
            rtl = site.locale(request).direction == "rtl"
            return download(rows, output, name=kind, title=kind, rtl=rtl)

    def _page(
        self,
        request: Request,
        viewer: Viewer,
        chosen: dict[str, str],
        error: tuple[str, dict[str, str]] | None,
    ) -> HTMLResponse:
        """The form with what was chosen, and why nothing was sent if ``error`` (key, words)."""
        loc = self.site.locale(request)
        return self.site.render(
            request,
            "kpis/exports.html",
            viewer,
            status=200 if error is None else 422,
            kinds=[(kind, kind_label(loc, kind)) for kind in LIST_KINDS],
            filters=FILTER_NAMES,
            applies_to={
                name: ", ".join(kind_label(loc, kind) for kind in applies_to(name))
                for name in FILTER_NAMES
            },
            currencies=CURRENCIES,
            chosen=chosen,
            error=error,
        )

    def install(self, app: FastAPI) -> None:
        """Add the page's routes to ``app``."""
        app.include_router(self.router)


__all__ = ["ExportsPage", "applies_to", "kind_label"]

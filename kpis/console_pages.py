"""Every sales page of the web console, mounted together: the KPI dashboard, the board, exports.

Kept apart from the pages themselves so each page module may use the others' helpers
without an import cycle.
"""

from __future__ import annotations

from fastapi import FastAPI

from core.sync.runtime import SyncRuntime
from core.web import WebSite
from kpis.board_page import BoardPage
from kpis.exports_page import ExportsPage
from kpis.pages import SalesPages


def mount_kpi_pages(app: FastAPI, site: WebSite, runtime: SyncRuntime) -> SalesPages:
    """Serve the dashboard, the pipeline board and the exports page on ``site`` in ``app``."""
    pages = SalesPages(site, runtime)
    pages.install(app)
    BoardPage(site, runtime).install(app)
    ExportsPage(site, runtime).install(app)
    return pages


__all__ = ["mount_kpi_pages"]

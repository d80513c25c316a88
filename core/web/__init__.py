"""crm-sync's web base: sign-in, sessions, CSRF, security headers, fa/en, Jalali dates, charts.

Pages of any part of crm-sync (the admin console, the sales KPIs) are FastAPI routes on a
shared :class:`WebSite`: they depend on ``site.viewer(role)`` to read and on
``site.form(role)`` to act, render templates with ``site.render`` and add their own
templates and messages with ``site.add_package``. See docs/admin.md.
"""

from core.web.charts import Series, line_chart, spark_bar
from core.web.locale import Catalog, Locale, Preferences
from core.web.site import CSP, NavItem, Viewer, WebError, WebSite, local_target, source_of

__all__ = [
    "CSP",
    "Catalog",
    "Locale",
    "NavItem",
    "Preferences",
    "Series",
    "Viewer",
    "WebError",
    "WebSite",
    "line_chart",
    "local_target",
    "source_of",
    "spark_bar",
]

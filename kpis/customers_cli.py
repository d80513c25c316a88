"""``crm-sync customers``: customers new, returning, won back and lost per period.

``--period`` is the last period of the trend (the current month by default),
``--periods`` how many (the configured sparkline length by default); ``--json``
prints what ``GET /v1/customer-trend`` answers. Bad input exits 2 with the reason.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kpis.cli import chosen_period
from kpis.customers import customer_trend
from kpis.customers_rows import TREND_HEADER, trend_rows

console = Console()
errors = Console(stderr=True)


def customers(
    period: Annotated[
        str | None, typer.Option("--period", help="the last period: 1404-07, 1404-Q3, 2025-10 ...")
    ] = None,
    periods: Annotated[
        int | None, typer.Option("--periods", min=1, max=36, help="how many periods")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print customers new, returning and lost per period (a purchase is a won opportunity)."""
    from core.cli_startup import _current_schema, _open_runtime, _settings

    settings = _settings()
    options = settings.kpis
    chosen = chosen_period(period, options)
    with _open_runtime(settings) as runtime:
        _current_schema(runtime.engine, settings)
        trend = customer_trend(
            runtime.engine,
            chosen,
            periods=periods or options.trend_periods,
            lost_after_days=options.lost_after_days,
        )
    rows = list(trend_rows(trend))[1:]
    if as_json:
        console.print_json(json.dumps([dict(zip(TREND_HEADER, row, strict=True)) for row in rows]))
        return
    table = Table(title=f"Customers to {chosen.label} (lost after {options.lost_after_days} days)")
    for name in ("period", "new", "returning", "won back", "lost", "lost rate"):
        table.add_column(name, justify="left" if name == "period" else "right")
    for c in trend:
        rate = "no data" if c.lost_rate is None else f"{c.lost_rate:,.1f}%"
        table.add_row(
            c.period.label, str(c.new), str(c.returning), str(c.won_back), str(c.lost), rate
        )
    console.print(table)


__all__ = ["customers"]

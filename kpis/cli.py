"""``crm-sync kpis``: the KPI table of a period in the terminal (or as JSON).

``--period 1404-07`` (default: the current month of the configured calendar) and
``--by agent`` work as in the API; ``--json`` prints what ``GET /v1/kpis`` answers.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.db.types import utcnow
from kpis.catalog import Unit
from kpis.periods import Period, PeriodError, current_period, parse_period
from kpis.queries import DIMENSIONS, Dimension, UnsupportedDimension
from kpis.report import Report, build_report
from kpis.settings import KpiSettings
from lead_scoring.assignment.service import rules_from_environment

console = Console()
errors = Console(stderr=True)
#: How a status is written in the terminal (in words, not only in colour).
STATUS = {
    "green": "[green]on target[/]",
    "amber": "[yellow]near target[/]",
    "red": "[red]off target[/]",
    "no_data": "no data",
    "no_target": "-",
}
UNITS: dict[str, str] = {
    "percent": "{:,.1f}%",
    "minutes": "{:,.1f} min",
    "days": "{:,.1f} d",
    "count": "{:,.1f}",
    "rials": "{:,.0f} IRR",
    "rials_per_day": "{:,.0f} IRR/d",
    "score": "{:,.2f} / 5",
    "points": "{:+,.1f}",
}


def shown(unit: Unit, value: float | None) -> str:
    """A value with its unit, or "no data"."""
    return "no data" if value is None else UNITS[unit].format(value)


def fail(message: str) -> typer.Exit:
    """Print ``message`` as the command's error; the exit (code 2) for the caller to raise."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def chosen_period(period: str | None, options: KpiSettings) -> Period:
    """The period ``--period`` names, or the current one in the configured calendar.

    A period that cannot be read ends the command with its reason (exit 2).
    """
    try:
        return (
            parse_period(period, time_zone=options.time_zone)
            if period
            else current_period(utcnow(), calendar=options.calendar, time_zone=options.time_zone)
        )
    except PeriodError as error:
        raise fail(str(error)) from None


def print_report(report: Report) -> None:
    """Print the report as tables: the KPIs, then each KPI's groups."""
    table = Table(title=f"KPIs {report.period.label} (previous {report.period.previous().label})")
    for column in ("KPI", "value", "status", "previous", "count"):
        table.add_column(column, justify="left" if column in ("KPI", "status") else "right")
    for line in report.lines:
        table.add_row(
            line.kpi.name,
            shown(line.kpi.unit, line.figure.value),
            STATUS[line.status],
            shown(line.kpi.unit, line.previous.value),
            str(line.figure.count),
        )
    console.print(table)
    for line in report.lines:
        if not line.groups:
            continue
        groups = Table(title=f"{line.kpi.name} by {report.by}")
        groups.add_column(report.by or "")
        groups.add_column("value", justify="right")
        groups.add_column("status")
        for group in line.groups:
            groups.add_row(
                escape(group.key) if group.key is not None else "(none)",
                shown(line.kpi.unit, group.figure.value),
                STATUS[group.status],
            )
        console.print(groups)


def kpis(
    period: Annotated[
        str | None, typer.Option("--period", help="1404-07, 1404-Q3, 1404, 2025-10 ...")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help=f"break down by: {', '.join(DIMENSIONS)}")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the sales KPIs of a period against their targets."""
    from core.cli_startup import _current_schema, _open_runtime, _settings

    settings = _settings()
    options = settings.kpis
    chosen = chosen_period(period, options)
    if by is not None and by not in DIMENSIONS:
        raise fail(f"--by must be one of {', '.join(DIMENSIONS)}")
    dimension: Dimension | None = by
    with _open_runtime(settings) as runtime:
        _current_schema(runtime.engine, settings)
        try:
            report = build_report(
                runtime.engine,
                options,
                rules_from_environment().calendar.build(),
                chosen,
                by=dimension,
            )
        except UnsupportedDimension as error:
            raise fail(str(error)) from None
    if as_json:
        # The API's models import FastAPI: loaded only here, so no other command pays it.
        from kpis.api import report_out

        console.print_json(report_out(report).model_dump_json())
    else:
        print_report(report)


__all__ = ["kpis", "print_report"]

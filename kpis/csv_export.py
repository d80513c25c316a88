"""CSV exports of the KPI report: UTF-8 with a BOM (so Excel shows Persian), streamed.

Every text cell that a spreadsheet would read as a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) is written with a leading apostrophe, so a
lead source or an agent id such as ``=HYPERLINK(...)`` stays text. Numbers are written
as numbers. Rows are produced one at a time: the export never holds the whole file.
Dates are written in ISO 8601 (UTC) with the Jalali date beside them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from core.locale import format_jalali
from kpis.report import Report

BOM = "\ufeff"
#: First characters that make a spreadsheet evaluate a cell.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HEADER = (
    "period",
    "start",
    "start_jalali",
    "end",
    "kpi",
    "unit",
    "by",
    "group",
    "value",
    "numerator",
    "denominator",
    "count",
    "status",
    "previous",
    "change",
)


def safe_cell(value: Any) -> Any:
    """``value`` as a cell: text that looks like a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The BOM, then each row as one CSV line (CRLF-terminated, as Excel expects)."""
    yield BOM
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def report_rows(report: Report) -> Iterator[tuple[Any, ...]]:
    """The header, then one row per KPI and one per KPI and group."""
    period = report.period
    head = (
        period.label,
        _iso(period.start),
        format_jalali(period.first_day),
        _iso(period.end),
    )
    yield HEADER
    for line in report.lines:
        figure = line.figure
        yield (
            *head,
            line.kpi.name,
            line.kpi.unit,
            "",
            "",
            figure.value,
            figure.numerator,
            figure.denominator,
            figure.count,
            line.status,
            line.previous.value,
            line.change,
        )
        for group in line.groups:
            yield (
                *head,
                line.kpi.name,
                line.kpi.unit,
                report.by,
                group.key,
                group.figure.value,
                group.figure.numerator,
                group.figure.denominator,
                group.figure.count,
                group.status,
                None,
                None,
            )


__all__ = ["BOM", "csv_lines", "report_rows", "safe_cell"]

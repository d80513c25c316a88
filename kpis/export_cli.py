"""``crm-sync export <kind>``: any record list as CSV or XLSX, with the list's filters.

``--status``, ``--owner``, ``--customer`` ... filter as in ``GET /v1/<kind>`` (each
kind has its own, docs/kpis.md lists them; ``--q`` searches the kinds with a search
text); ``--format`` is taken from the output's suffix unless given; ``--lang fa``
(the console's language by default) makes the sheet right to left; ``--currency
toman`` gives the amounts in Toman. The file is written as the rows come from the
database into ``FILE.partial``, renamed once complete. Bad input exits 2 with the
reason and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from core.list_filters import UnknownFilter
from kpis.cli import fail
from kpis.csv_export import csv_lines
from kpis.money import toman_rows
from kpis.record_export import LIST_KINDS, record_rows
from kpis.xlsx_export import write_xlsx

errors = Console(stderr=True)
Filter = Annotated[str | None, typer.Option(help="only records with this value")]


def write_rows(
    rows: Iterable[Sequence[Any]], output: Path, kind: str, *, title: str, rtl: bool
) -> int:
    """Write ``rows`` (header first) to ``output`` as ``kind``; the data rows written.

    The file grows as ``output.partial`` and replaces ``output`` only once complete.
    """
    partial = output.with_name(output.name + ".partial")
    try:
        if kind == "xlsx":
            with partial.open("wb") as target:
                written = write_xlsx(rows, target, title=title, rtl=rtl)
        else:
            with partial.open("w", encoding="utf-8", newline="") as text:
                lines = csv_lines(rows)
                text.write(next(lines) + next(lines))  # the BOM, then the header
                written = 0
                for line in lines:
                    text.write(line)
                    written += 1
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return written


def output_format(output: Path, chosen: str | None, lang: str | None) -> str:
    """``csv`` or ``xlsx`` from ``--format`` or the suffix; typer.Exit(2) on bad options."""
    found = chosen or output.suffix.removeprefix(".").lower()
    if found not in ("csv", "xlsx"):
        raise fail("--format must be csv or xlsx (or the output must end in .csv or .xlsx)")
    if lang is not None and lang not in ("fa", "en"):
        raise fail("--lang must be fa or en")
    if not output.parent.is_dir():
        raise fail(f"the folder {output.parent} does not exist")
    return found


def export(
    kind: Annotated[str, typer.Argument(help=f"one of {', '.join(LIST_KINDS)}")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the file to write")],
    chosen: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from the suffix)")
    ] = None,
    status: Filter = None,
    owner: Filter = None,
    source: Filter = None,
    stage: Filter = None,
    customer: Filter = None,
    lead: Filter = None,
    channel: Filter = None,
    direction: Filter = None,
    q: Annotated[str | None, typer.Option("--q", help="words or a phone to search for")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="fa (right to left) or en")] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="rials (default) or toman")
    ] = None,
) -> None:
    """Export a record list (leads, opportunities, customers, tasks ...) to CSV or XLSX."""
    from core.cli_startup import _current_schema, _open_runtime, _settings

    if kind not in LIST_KINDS:
        raise fail(f"the list must be one of {', '.join(LIST_KINDS)}, not {kind!r}")
    found = output_format(output, chosen, lang)
    if currency is not None and currency not in ("rials", "toman"):
        raise fail("--currency must be rials or toman")
    filters = {
        "status": status, "owner": owner, "source": source, "stage": stage,
        "customer": customer, "lead": lead, "channel": channel, "direction": direction,
    }  # fmt: skip
    settings = _settings()
    rtl = (lang or settings.console.language) == "fa"
    with _open_runtime(settings) as runtime:
        _current_schema(runtime.engine, settings)
        try:
            rows: Iterable[Sequence[Any]] = record_rows(
                runtime.engine, kind, filters=filters, q=q, time_zone=settings.kpis.time_zone
            )
        except UnknownFilter as error:
            raise fail(str(error)) from None
        if currency == "toman":
            rows = toman_rows(rows)
        written = write_rows(rows, output, found, title=kind, rtl=rtl)
    errors.print(f"wrote {written} {kind} to {escape(str(output))}", highlight=False)


__all__ = ["export", "output_format", "write_rows"]

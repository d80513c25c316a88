"""``crm-sync export leads|opportunities``: a record list as CSV or XLSX.

``--status`` and ``--owner`` filter the list as in the API; ``--format`` is taken
from the output's suffix unless given; ``--lang fa`` (the console's language by
default) makes the sheet right to left. The file is written as the rows come from
the database, so its size does not bound memory. Bad input exits 2 with the reason
and writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kpis.csv_export import csv_lines
from kpis.record_export import LIST_KINDS, record_rows
from kpis.xlsx_export import write_xlsx

errors = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def export(
    kind: Annotated[str, typer.Argument(help=f"one of {', '.join(LIST_KINDS)}")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the file to write")],
    output_format: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from the suffix)")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="only this status")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="only this owner's")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="fa (right to left) or en")] = None,
) -> None:
    """Export leads or opportunities to a CSV or XLSX file."""
    from core.cli_startup import _current_schema, _open_runtime, _settings

    if kind not in LIST_KINDS:
        raise _fail(f"the list must be one of {', '.join(LIST_KINDS)}, not {kind!r}")
    chosen = output_format or output.suffix.removeprefix(".").lower()
    if chosen not in ("csv", "xlsx"):
        raise _fail("--format must be csv or xlsx (or the output must end in .csv or .xlsx)")
    if lang is not None and lang not in ("fa", "en"):
        raise _fail("--lang must be fa or en")
    if not output.parent.is_dir():
        raise _fail(f"the folder {output.parent} does not exist")
    settings = _settings()
    rtl = (lang or settings.console.language) == "fa"
    with _open_runtime(settings) as runtime:
        _current_schema(runtime.engine, settings)
        rows = record_rows(
            runtime.engine,
            kind,
            status=status,
            owner=owner,
            time_zone=settings.kpis.time_zone,
        )
        partial = output.with_name(output.name + ".partial")
        try:
            if chosen == "xlsx":
                with partial.open("wb") as target:
                    written = write_xlsx(rows, target, title=kind, rtl=rtl)
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
    errors.print(f"wrote {written} {kind} to {escape(str(output))}", highlight=False)


__all__ = ["export"]

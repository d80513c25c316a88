"""XLSX exports of the KPI report (and any table of rows), in constant memory.

The workbook is written with openpyxl in write-only mode: each appended row goes
straight to a temporary file, so memory does not grow with the rows; the finished
file is then read back in chunks for the HTTP response. openpyxl rather than
XlsxWriter because the same library also reads the files back (the tests open every
export with it), and write-only mode gives the constant memory the exports need.

The sheet is right-to-left for Persian readers, the header row is bold and frozen,
numbers stay numbers with a thousands format, text is neutralised exactly as in the
CSV (:func:`kpis.csv_export.safe_cell`: a leading apostrophe before ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) and characters XML cannot carry are replaced
with U+FFFD instead of failing the export. A sheet holds at most
:data:`ROWS_PER_SHEET` rows; longer tables continue on further sheets, each with
the header again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from kpis.csv_export import safe_cell

#: Excel's limit is 1,048,576 rows a sheet; one is the header.
ROWS_PER_SHEET = 1_048_575
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
INTEGER_FORMAT = "#,##0"
DECIMAL_FORMAT = "#,##0.00"
CHUNK = 64 * 1024


def xlsx_value(value: Any) -> Any:
    """``value`` as the XLSX cell holds it: None empty, text neutralised and XML-safe."""
    if value is None:
        return None
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", safe_cell(value))
    return value


class _Sheets:
    """The workbook's sheets, a new one (header first) every ``limit`` rows."""

    def __init__(self, book: Workbook, title: str, header: Sequence[Any], *, rtl: bool) -> None:
        self.book, self.title, self.header, self.rtl = book, title, header, rtl
        self.sheet: WriteOnlyWorksheet | None = None
        self.count = 0
        self.rows = 0

    def append(self, row: Sequence[Any], limit: int) -> None:
        if self.sheet is None or self.rows >= limit:
            self.start()
        assert self.sheet is not None
        self.sheet.append([self._cell(value) for value in row])
        self.rows += 1

    def start(self) -> None:
        """Begin the next sheet: right-to-left if asked, the bold header frozen."""
        self.count += 1
        title = self.title if self.count == 1 else f"{self.title} {self.count}"
        sheet = self.book.create_sheet(title[:31])
        sheet.sheet_view.rightToLeft = self.rtl
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        heads = []
        for value in self.header:
            cell = WriteOnlyCell(sheet, value=xlsx_value(value))
            cell.font = bold
            heads.append(cell)
        sheet.append(heads)
        self.sheet, self.rows = sheet, 0

    def _cell(self, value: Any) -> Any:
        value = xlsx_value(value)
        if isinstance(value, Decimal):
            # Excel holds every number as a double anyway; whole amounts stay whole.
            value = int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        assert self.sheet is not None
        cell = WriteOnlyCell(self.sheet, value=value)
        cell.number_format = INTEGER_FORMAT if isinstance(value, int) else DECIMAL_FORMAT
        return cell


def write_xlsx(
    rows: Iterable[Sequence[Any]],
    target: IO[bytes],
    *,
    title: str,
    rtl: bool,
    rows_per_sheet: int = ROWS_PER_SHEET,
) -> int:
    """Write ``rows`` (the header first) as a workbook to ``target``; the data rows written."""
    if rows_per_sheet < 1:
        raise ValueError("rows_per_sheet must be at least 1")
    book = Workbook(write_only=True)
    iterator = iter(rows)
    header = next(iterator, ())
    sheets = _Sheets(book, title, header, rtl=rtl)
    written = 0
    for row in iterator:
        sheets.append(row, rows_per_sheet)
        written += 1
    if sheets.sheet is None:
        sheets.start()
    book.save(target)
    return written


def xlsx_chunks(rows: Iterable[Sequence[Any]], *, title: str, rtl: bool) -> Iterator[bytes]:
    """The workbook of ``rows`` in chunks, built in a temporary file when first asked for."""
    with tempfile.TemporaryFile() as spool:
        write_xlsx(rows, spool, title=title, rtl=rtl)
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk


__all__ = ["ROWS_PER_SHEET", "XLSX_TYPE", "write_xlsx", "xlsx_chunks", "xlsx_value"]

"""One streamed download of export rows as CSV or XLSX, for the API and the console alike.

The rows (header first) are written by the shared writers (:mod:`kpis.csv_export`,
:mod:`kpis.xlsx_export`) as the response is sent, never held whole; a caller that
was asked for Toman passes the rows through :mod:`kpis.money` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import StreamingResponse

from kpis.csv_export import csv_lines
from kpis.xlsx_export import XLSX_TYPE, xlsx_chunks

ExportFormat = Literal["csv", "xlsx"]


def wanted_format(request: Request, output: str | None) -> str:
    """``json``, ``csv`` or ``xlsx``: the ``format`` parameter, else the Accept header."""
    if output is not None:
        return output
    accept = request.headers.get("accept", "")
    if XLSX_TYPE in accept:
        return "xlsx"
    if "text/csv" in accept:
        return "csv"
    return "json"


def right_to_left(request: Request, language: str | None, default: str) -> bool:
    """Whether an export is read in Persian: ``lang``, else Accept-Language, else ``default``."""
    if language is None:
        wanted = request.headers.get("accept-language", "")[:2].lower()
        language = wanted if wanted in ("fa", "en") else default
    return language == "fa"


def download(
    rows: Iterable[Sequence[Any]], kind: str, *, name: str, title: str, rtl: bool
) -> StreamingResponse:
    """``rows`` as an attachment ``name.kind``: CSV with a BOM, or an XLSX sheet ``title``."""
    if kind == "xlsx":
        body: Iterable[Any] = xlsx_chunks(rows, title=title, rtl=rtl)
        media_type = XLSX_TYPE
    else:
        body, media_type = csv_lines(rows), "text/csv; charset=utf-8"
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'},
    )


__all__ = ["ExportFormat", "download", "right_to_left", "wanted_format"]

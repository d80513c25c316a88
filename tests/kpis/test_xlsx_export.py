"""The XLSX writer: cells read back with openpyxl, RTL, formulas neutralised, constant memory."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from kpis.xlsx_export import write_xlsx, xlsx_chunks


def book_of(rows: list[tuple[Any, ...]], **options: Any) -> Any:
    target = io.BytesIO()
    write_xlsx(rows, target, title="KPIs", **options)
    target.seek(0)
    return load_workbook(target)


def test_cells_keep_their_types_and_the_header_is_frozen() -> None:
    book = book_of(
        [("kpi", "value", "count", "jalali"), ("won_value", 12_500_000, 3, "1404/07/01")],
        rtl=True,
    )
    sheet = book["KPIs"]
    assert sheet.sheet_view.rightToLeft is True
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b is True
    assert sheet["B2"].value == 12_500_000 and sheet["B2"].data_type == "n"
    assert sheet["B2"].number_format == "#,##0"
    assert sheet["D2"].value == "1404/07/01" and sheet["D2"].data_type == "s"


def test_an_english_sheet_is_left_to_right_and_decimals_have_two_places() -> None:
    sheet = book_of([("value",), (45.5,), (None,)], rtl=False)["KPIs"]
    assert not sheet.sheet_view.rightToLeft
    assert sheet["A2"].value == 45.5 and sheet["A2"].number_format == "#,##0.00"
    assert sheet["A3"].value is None, "no data is an empty cell, not 0"


@pytest.mark.parametrize("text", ["=1+1", "+98912", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_looking_text_stays_text(text: str) -> None:
    cell = book_of([("source",), (text,)], rtl=True)["KPIs"]["A2"]
    assert cell.data_type == "s"
    assert cell.value == "'" + text


def test_characters_xml_cannot_carry_are_replaced_not_fatal() -> None:
    cell = book_of([("source",), ("bad\x00\x07name",)], rtl=True)["KPIs"]["A2"]
    assert cell.value == "bad\ufffd\ufffdname"


def test_long_tables_continue_on_further_sheets_with_the_header() -> None:
    book = book_of([("n",), *((n,) for n in range(5))], rtl=False, rows_per_sheet=2)
    assert book.sheetnames == ["KPIs", "KPIs 2", "KPIs 3"]
    assert [c.value for c in book["KPIs 3"]["A"]] == ["n", 4]
    with pytest.raises(ValueError):
        write_xlsx([("n",)], io.BytesIO(), title="x", rtl=False, rows_per_sheet=0)


def test_an_empty_table_is_a_sheet_with_its_header() -> None:
    sheet = book_of([("kpi", "value")], rtl=True)["KPIs"]
    assert [c.value for c in sheet[1]] == ["kpi", "value"]
    assert sheet.max_row == 1


def _peak(rows: int) -> int:
    def produce() -> Iterator[tuple[Any, ...]]:
        yield ("n", "name", "amount")
        for n in range(rows):
            yield (n, "مشتری", n * 1000.5)

    tracemalloc.start()
    try:
        for _ in xlsx_chunks(produce(), title="rows", rtl=True):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_rows() -> None:
    small, large = _peak(1_000), _peak(15_000)
    assert large < small * 2, f"peak {large} bytes for 15,000 rows, {small} for 1,000"


def test_decimal_amounts_are_numbers_with_the_thousands_format() -> None:
    sheet = book_of([("amount",), (Decimal("9000000"),), (Decimal("2.5"),)], rtl=True)["KPIs"]
    assert (sheet["A2"].value, sheet["A2"].number_format) == (9_000_000, "#,##0")
    assert (sheet["A3"].value, sheet["A3"].number_format) == (2.5, "#,##0.00")

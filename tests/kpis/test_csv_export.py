"""The CSV writer: formula-looking text neutralised, BOM first, one line at a time."""

from __future__ import annotations

import pytest

from kpis.csv_export import BOM, csv_lines, safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+98912", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_looking_text_gets_an_apostrophe(text: str) -> None:
    assert safe_cell(text) == "'" + text


def test_numbers_and_plain_text_stay_as_they_are() -> None:
    assert safe_cell(-12.5) == -12.5
    assert safe_cell("پمپ = خوب") == "پمپ = خوب"
    assert safe_cell(None) == ""


def test_lines_are_produced_one_at_a_time() -> None:
    produced = 0

    def rows():  # type: ignore[no-untyped-def]
        nonlocal produced
        for n in range(1_000_000):
            produced += 1
            yield (n, "سلام")

    lines = csv_lines(rows())
    assert next(lines) == BOM
    assert next(lines) == "0,سلام\r\n"
    assert next(lines) == "1,سلام\r\n"
    assert produced == 2, "nothing is read ahead"

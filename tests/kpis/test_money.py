"""Rials and Toman: the currency chosen, exact conversion, export columns renamed."""

from __future__ import annotations

from decimal import Decimal

from kpis.money import currency_of, in_currency, toman_report_rows, toman_rows


def test_the_currency_asked_for_else_the_setting() -> None:
    assert currency_of("toman", "rials") == "toman"
    assert currency_of("rials", "toman") == "rials"
    assert currency_of(None, "toman") == "toman"
    assert currency_of("dollars", "rials") == "rials", "anything else is the default"


def test_amounts_divide_by_ten_and_decimals_stay_exact() -> None:
    assert in_currency(Decimal("1234567.5"), "toman") == Decimal("123456.75")
    assert in_currency(5_000_000.0, "toman") == 500_000.0
    assert in_currency(None, "toman") is None
    assert in_currency(True, "toman") is True
    assert in_currency("text", "toman") == "text"
    assert in_currency(Decimal("10"), "rials") == Decimal("10")


def test_export_columns_in_rials_become_toman() -> None:
    rows = list(toman_rows([("id", "amount_rials", "probability"), ("O1", 1000, 50)]))
    assert rows == [("id", "amount_toman", "probability"), ("O1", 100.0, 50)]
    assert list(toman_rows([])) == [()]


def test_kpi_rows_in_rials_become_toman_and_the_others_stay() -> None:
    header = ("kpi", "unit", "value", "numerator", "denominator", "previous", "change")
    rows = list(
        toman_report_rows(
            [
                header,
                ("average_won_value", "rials", 1500.0, 3000.0, 2, 1000.0, 500.0),
                ("pipeline_velocity", "rials_per_day", 70.0, None, None, None, None),
                ("lead_to_opportunity", "percent", 66.7, 2, 3, 0.0, 66.7),
            ]
        )
    )
    assert rows[1] == ("average_won_value", "toman", 150.0, 300.0, 2, 100.0, 50.0)
    assert rows[2] == ("pipeline_velocity", "toman_per_day", 7.0, None, None, None, None)
    assert rows[3] == ("lead_to_opportunity", "percent", 66.7, 2, 3, 0.0, 66.7)

"""Quotations and sale orders of pro-formas in Odoo, replayed from recordings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from core.errors import MappingError
from core.testing.odoo_replay import URL
from erp.odoo.client import OdooClient
from erp.odoo.sales import QuotationData, QuotationLine, Sales
from tests.erp.odoo.replay import recorded

UTC = dt.UTC


def test_discount_percent_is_used_only_when_exact() -> None:
    with httpx.Client() as http:
        sales = Sales(OdooClient(http, url=URL, database="crm", login="u", api_key="k", version=17))
    assert sales.discount_percent(Decimal(12500000), Decimal(2), Decimal(1250000)) == 5
    assert sales.discount_percent(Decimal(1234568), Decimal(1), Decimal(154321)) == Decimal("12.5")
    assert sales.discount_percent(Decimal(333000), Decimal(3), Decimal(100000)) is None
    assert sales.discount_percent(Decimal(0), Decimal(1), Decimal(1)) is None
    assert sales.discount_percent(Decimal(100), Decimal(1), Decimal(101)) is None


def test_quotation_carries_prices_discounts_and_taxes_explicitly() -> None:
    quotation = QuotationData(
        crm_id="pf-5001",
        partner_id=42,
        discount_product_id=900,
        expected_total=Decimal("31913900"),
        lines=(
            QuotationLine(101, Decimal(2), Decimal(12500000), Decimal(1250000), (5,)),
            QuotationLine(102, Decimal(3), Decimal(333000), Decimal(100000), (5,)),
            QuotationLine(103, Decimal(1), Decimal(4800000)),
        ),
    )
    with recorded("quotations.json", "create_with_discounts") as odoo:
        result = odoo.sales.upsert_quotation(quotation)
    assert (result.order_id, result.name, result.state) == (77, "S00077", "draft")
    assert result.created and not result.updated
    assert result.amount_untaxed == Decimal("29449000")
    assert result.amount_tax == Decimal("2464900")
    assert result.totals_match


def test_sent_quotation_gets_new_lines_and_reports_a_different_total() -> None:
    quotation = QuotationData(
        crm_id="pf-5002",
        partner_id=42,
        expected_total=Decimal("1177470"),
        lines=(QuotationLine(101, Decimal(1), Decimal(1234568), Decimal(154321), (6,)),),
        extra={"validity_date": dt.date(2024, 6, 30)},
    )
    with recorded("quotations.json", "replace_lines_of_sent_quotation") as odoo:
        result = odoo.sales.upsert_quotation(quotation)
    assert result.updated and not result.created
    assert result.amount_total == Decimal("1177469")
    assert result.difference == Decimal(-1)
    assert not result.totals_match


def test_confirmed_order_is_not_changed_by_a_repeated_pro_forma() -> None:
    quotation = QuotationData(
        crm_id="pf-5001",
        partner_id=42,
        expected_total=Decimal("31913900"),
        lines=(QuotationLine(101, Decimal(2), Decimal(12500000)),),
    )
    with recorded("quotations.json", "confirmed_order_left_alone") as odoo:
        result = odoo.sales.upsert_quotation(quotation)
    assert (result.state, result.created, result.updated) == ("sale", False, False)


def test_a_sent_quotation_is_cancelled_without_the_e_mail_wizard() -> None:
    with recorded("quotations.json", "cancel_sent_quotation") as odoo:
        assert odoo.sales.cancel_quotation("pf-5002") == (78, "cancel")


def test_a_confirmed_order_is_not_cancelled_from_the_crm() -> None:
    with recorded("quotations.json", "cancel_confirmed_order_left") as odoo:
        assert odoo.sales.cancel_quotation("pf-5001") == (77, "sale")


def test_cancelling_a_pro_forma_odoo_never_got_writes_nothing() -> None:
    with recorded("quotations.json", "cancel_without_quotation") as odoo:
        assert odoo.sales.cancel_quotation("pf-5003") is None


def test_inexact_discount_needs_a_discount_product() -> None:
    quotation = QuotationData(
        crm_id="pf-5003",
        partner_id=42,
        expected_total=Decimal("899000"),
        lines=(QuotationLine(102, Decimal(3), Decimal(333000), Decimal(100000), (5,)),),
    )
    with (
        recorded("quotations.json", "inexact_discount_without_product") as odoo,
        pytest.raises(MappingError, match="discount product"),
    ):
        odoo.sales.upsert_quotation(quotation)


def test_the_pricelist_gives_the_order_its_currency_on_a_live_odoo() -> None:
    line = QuotationLine(product_id=5, quantity=Decimal(2), price_unit=Decimal(12500000))
    quotation = QuotationData(
        crm_id="pf-irr-1",
        partner_id=10,
        lines=(line,),
        expected_total=Decimal(25000000),
        extra={"pricelist_id": 2, "validity_date": "2026-12-31"},
    )
    with recorded("quotations.json", "currency_v17") as odoo:
        result = odoo.sales.upsert_quotation(quotation)
        [order] = odoo.client.read(
            "sale.order", [result.order_id], ["currency_id", "validity_date", "pricelist_id"]
        )
    assert (order["currency_id"][1], order["validity_date"]) == ("IRR", "2026-12-31")
    assert result.difference == 0

"""Quotations and sales of pro-formas in Tryton, against a real trytond."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from core.errors import MappingError
from erp.tryton import Tryton
from tests.erp.tryton.helpers import customer, line, product, quotation


def test_quotation_revised_before_confirmation_replaces_its_lines(erp: Tryton) -> None:
    party = erp.partners.ensure_party(customer())
    widget = product(erp, "W-1")
    first = erp.sales.create_quotation(
        quotation(erp, "PF-2", party.id, line(widget, "1", "1250000"))
    )

    revised = erp.sales.create_quotation(
        quotation(erp, "PF-2", party.id, line(widget, "2", "1200000"))
    )

    assert revised.id == first.id and revised.state == "quotation"
    assert [(item.quantity, item.unit_price) for item in revised.lines] == [
        (Decimal(2), Decimal(1200000))
    ]
    assert revised.total_amount == Decimal("2400000")


def test_a_quotation_is_made_in_the_pro_formas_currency_or_refused(erp: Tryton) -> None:
    party = erp.partners.ensure_party(customer())
    widget = product(erp, "W-CUR")
    made = quotation(erp, "PF-CUR", party.id, line(widget, "1", "1000"))
    sale = erp.sales.create_quotation(replace(made, currency="IRR"))
    assert sale.currency == "IRR"
    with pytest.raises(MappingError, match=r"currency\.currency matching 'USD'"):
        erp.sales.create_quotation(replace(made, crm_ref="PF-USD", currency="USD"))
    assert erp.sales.find_sale("PF-USD") is None

"""A sale's invoices in Tryton: posted, then paid in part and in full, against a real trytond."""

from __future__ import annotations

from decimal import Decimal

from core.testing.tryton import (
    TEMPLATE_TAX,
    pay_invoice,
)
from erp.tryton import Tryton
from tests.erp.tryton.helpers import customer, line, product, quotation


def test_quotation_confirm_invoice_and_payment(erp: Tryton) -> None:
    party = erp.partners.ensure_party(customer())
    widget = product(erp, "W-1")
    vat = erp.lookups.tax_id(TEMPLATE_TAX)
    proforma = quotation(
        erp,
        "PF-1",
        party.id,
        line(widget, "3", "1125000", base_price="1250000", tax_ids=(vat,)),
        line(widget, "1", "990000", tax_ids=(vat,)),
    )

    quote = erp.sales.create_quotation(proforma)
    again = erp.sales.create_quotation(proforma)

    assert quote.created and again.id == quote.id and not again.created
    assert quote.state == "quotation" and quote.currency == "IRR"
    assert quote.untaxed_amount == Decimal("4365000")
    assert quote.tax_amount == Decimal("436500")
    assert quote.total_amount == Decimal("4801500")
    discounted = next(item for item in quote.lines if item.base_price == Decimal("1250000"))
    assert discounted.unit_price == Decimal("1125000") and discounted.amount == Decimal("3375000")
    discount = erp.client.read("sale.line", [discounted.id], ["discount_rate"])
    assert discount[0]["discount_rate"] == Decimal("0.1000")

    confirmed = erp.sales.confirm_sale(quote.id)
    assert erp.sales.confirm_sale(quote.id).invoice_ids == confirmed.invoice_ids
    assert confirmed.state == "processing"
    assert len(confirmed.invoice_ids) == 1 and len(confirmed.shipment_ids) == 1

    (draft,) = erp.invoices.of_sale(quote.id)
    assert draft.state == "draft" and draft.number is None and draft.payment_state == "not posted"
    (posted,) = erp.invoices.post_invoices(quote.id)
    assert posted.number and posted.state == "posted" and posted.payment_state == "unpaid"
    assert posted.total_amount == Decimal("4801500")
    assert erp.invoices.post_invoices(quote.id) == (posted,)

    pay_invoice(erp.client, posted.id, Decimal("1000000"))
    (partly,) = erp.invoices.of_sale(quote.id)
    assert partly.payment_state == "partly paid"
    assert partly.amount_to_pay == Decimal("3801500") and partly.amount_paid == Decimal("1000000")

    pay_invoice(erp.client, posted.id, Decimal("3801500"))
    (paid,) = erp.invoices.of_sale(quote.id)
    assert paid.state == "paid" and paid.payment_state == "paid"

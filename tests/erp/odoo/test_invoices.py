"""Invoicing sale orders and reading and polling invoices in Odoo, replayed from recordings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import PermanentError
from erp.odoo.polling import PollCursor
from tests.erp.odoo.replay import recorded

UTC = dt.UTC


def test_confirm_then_invoice_and_post() -> None:
    with recorded("invoices.json", "confirm_and_invoice") as odoo:
        assert odoo.sales.confirm_order(77) == "sale"
        invoice = odoo.invoices.create_invoice(77)
    assert invoice.invoice_id == 88
    assert invoice.number == "INV/2024/00012"
    assert (invoice.state, invoice.payment_state) == ("posted", "not_paid")
    assert invoice.invoice_date == dt.date(2024, 5, 14)
    assert invoice.amount_total == Decimal("31913900")
    assert invoice.origin == "S00077"


def test_invoice_can_stay_a_draft_in_odoo_16() -> None:
    with recorded("invoices.json", "invoice_draft_v16") as odoo:
        invoice = odoo.invoices.create_invoice(77, post=False)
    assert (invoice.invoice_id, invoice.number, invoice.state) == (88, None, "draft")


def test_confirming_and_invoicing_again_creates_nothing() -> None:
    with recorded("invoices.json", "confirm_and_invoice_again") as odoo:
        assert odoo.sales.confirm_order(77) == "sale"
        invoice = odoo.invoices.create_invoice(77)
    assert (invoice.invoice_id, invoice.payment_state) == (88, "partial")
    assert invoice.partly_paid and not invoice.paid
    assert invoice.amount_residual == Decimal("11913900")


def test_cancelled_order_cannot_be_confirmed() -> None:
    with (
        recorded("invoices.json", "confirm_cancelled") as odoo,
        pytest.raises(PermanentError, match="cancelled"),
    ):
        odoo.sales.confirm_order(79)


def test_payment_states_and_credit_notes() -> None:
    with recorded("invoices.json", "read_payment_states") as odoo:
        invoices = odoo.invoices.read_invoices([88, 89, 90, 91, 92])
        refunds = odoo.invoices.refunds_of(92)
    assert [(i.payment_state, i.paid, i.partly_paid) for i in invoices] == [
        ("paid", True, False),
        ("partial", False, True),
        ("in_payment", True, False),
        ("not_paid", False, False),
        ("reversed", False, False),
    ]
    assert invoices[3].number is None and invoices[3].origin is None
    assert [(r.number, r.move_type) for r in refunds] == [("RINV/2024/00003", "out_refund")]


def test_poll_invoices() -> None:
    cursor = PollCursor(write_date="2024-05-14 10:00:00")
    with recorded("polling.json", "poll_invoices") as odoo:
        changes = odoo.invoices.poll_invoices(cursor, limit=50, overlap_seconds=3600)
    (invoice,) = changes.items
    assert (invoice.number, invoice.paid) == ("INV/2024/00012", True)
    assert changes.cursor.write_date == "2024-05-16 08:30:00"
    assert not changes.has_more

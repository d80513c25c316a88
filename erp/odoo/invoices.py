"""Customer invoices in Odoo: ``account.move`` made from a confirmed order, posted, polled back.

Invoices are made by the ``sale.advance.payment.inv`` wizard (``create_invoices``;
``sale.order._create_invoices`` is private and cannot be called over RPC) and posted
with ``action_post`` (which returns False). ``payment_state`` is one of ``not_paid``,
``in_payment``, ``paid``, ``partial``, ``reversed``, ``invoicing_legacy``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.errors import PermanentError
from erp.odoo.client import OdooClient
from erp.odoo.polling import Changes, PollCursor, poll_changes
from erp.odoo.values import odoo_value, parse_date, parse_datetime, to_decimal
from erp.odoo.wizards import press

__all__ = ["InvoiceStatus", "Invoices"]


_INVOICE_FIELDS = (
    "name",
    "state",
    "payment_state",
    "move_type",
    "amount_total",
    "amount_residual",
    "invoice_date",
    "invoice_origin",
)


@dataclass(frozen=True)
class InvoiceStatus:
    """A customer invoice (or credit note) as the CRM shows it.

    ``number`` is None while the invoice is a draft (Odoo names drafts ``/``);
    ``state`` is ``draft``, ``posted`` or ``cancel``; ``payment_state`` is Odoo's value
    (``not_paid``, ``in_payment``, ``paid``, ``partial``, ``reversed``,
    ``invoicing_legacy``).
    """

    invoice_id: int
    number: str | None
    state: str
    payment_state: str
    move_type: str
    amount_total: Decimal
    amount_residual: Decimal
    invoice_date: dt.date | None
    origin: str | None
    #: When Odoo last wrote the invoice (UTC); only polls read it, else None.
    write_date: dt.datetime | None = None

    @property
    def paid(self) -> bool:
        """True when nothing is left to pay (``paid``, or ``in_payment`` awaiting the bank)."""
        return self.payment_state in ("paid", "in_payment")

    @property
    def partly_paid(self) -> bool:
        """True when some but not all of the invoice is paid."""
        return self.payment_state == "partial"


class Invoices:
    """Invoice sale orders, read invoices and poll their changes."""

    def __init__(self, client: OdooClient) -> None:
        self.client = client

    def create_invoice(self, order_id: int, *, post: bool = True) -> InvoiceStatus:
        """Return the confirmed order's customer invoice, creating (and posting) it if needed.

        The invoice is made by the ``sale.advance.payment.inv`` wizard as a regular
        invoice, exactly as the "Create invoice" button does; an order that already has
        an uncancelled customer invoice gets no second one.
        """
        (order,) = self.client.read("sale.order", [order_id], ["name", "state", "invoice_ids"])
        if order["state"] not in ("sale", "done"):
            raise PermanentError(
                f"Odoo sale order {order['name']} is {order['state']!r}; "
                "confirm it before invoicing"
            )
        invoice = self._open_invoice(order["invoice_ids"])
        if invoice is None:
            context = {
                "active_model": "sale.order",
                "active_ids": [order_id],
                "active_id": order_id,
            }
            (wizard_id,) = self.client.create(
                "sale.advance.payment.inv",
                [{"advance_payment_method": "delivered", "sale_order_ids": [(6, 0, [order_id])]}],
                context=context,
            )
            self.client.call(
                "sale.advance.payment.inv", "create_invoices", [wizard_id], context=context
            )
            (order,) = self.client.read("sale.order", [order_id], ["invoice_ids"])
            invoice = self._open_invoice(order["invoice_ids"])
            if invoice is None:
                raise PermanentError(
                    f"Odoo made no invoice for sale order {order_id}; check that its products "
                    "are invoiced on ordered quantities"
                )
        if post and invoice.state == "draft":
            press(self.client, "account.move", "action_post", [invoice.invoice_id])
            invoice = self.read_invoice(invoice.invoice_id)
        return invoice

    def _open_invoice(self, invoice_ids: Sequence[int]) -> InvoiceStatus | None:
        for invoice in self.read_invoices(invoice_ids):
            if invoice.move_type == "out_invoice" and invoice.state != "cancel":
                return invoice
        return None

    def read_invoice(self, invoice_id: int) -> InvoiceStatus:
        """Read one invoice's number, state and payment state."""
        return self.read_invoices([invoice_id])[0]

    def read_invoices(self, invoice_ids: Sequence[int]) -> list[InvoiceStatus]:
        """Read several invoices (for example a sale order's ``invoice_ids``)."""
        rows = self.client.read("account.move", list(invoice_ids), list(_INVOICE_FIELDS))
        return [_invoice(row) for row in rows]

    def refunds_of(self, invoice_id: int) -> list[InvoiceStatus]:
        """Read the credit notes that reverse an invoice (``reversed_entry_id``)."""
        rows = self.client.search_read(
            "account.move",
            [("reversed_entry_id", "=", invoice_id), ("move_type", "=", "out_refund")],
            list(_INVOICE_FIELDS),
            order="id asc",
        )
        return [_invoice(row) for row in rows]

    def poll_invoices(
        self, cursor: PollCursor, *, limit: int = 200, overlap_seconds: int = 60
    ) -> Changes[InvoiceStatus]:
        """Return customer invoices and credit notes changed since ``cursor`` (see poll_changes)."""
        batch = poll_changes(
            self.client,
            "account.move",
            list(_INVOICE_FIELDS),
            cursor,
            domain=[("move_type", "in", ["out_invoice", "out_refund"])],
            limit=limit,
            overlap_seconds=overlap_seconds,
        )
        return Changes([_invoice(row) for row in batch.records], batch.cursor, batch.has_more)


def _invoice(row: Mapping[str, Any]) -> InvoiceStatus:
    name = odoo_value(row["name"])
    return InvoiceStatus(
        invoice_id=int(row["id"]),
        number=None if name in (None, "/") else str(name),
        state=str(row["state"]),
        payment_state=str(row["payment_state"]),
        move_type=str(row["move_type"]),
        amount_total=to_decimal(row["amount_total"]),
        amount_residual=to_decimal(row["amount_residual"]),
        invoice_date=parse_date(row["invoice_date"]),
        origin=odoo_value(row["invoice_origin"]),
        write_date=parse_datetime(row.get("write_date")),
    )

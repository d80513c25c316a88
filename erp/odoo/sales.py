"""Sale orders in Odoo: a pro-forma is a quotation (``sale.order``) found by ``client_order_ref``.

``action_confirm`` turns a quotation (draft/sent) into an order (sale); a quotation is
cancelled with ``action_cancel``. Amounts: Odoo's ``discount`` is a percentage stored
with the "Discount" decimal precision (2 digits by default). A CRM discount given as an
amount is sent as that percentage only when the percentage is exact at that precision;
otherwise the line is sent undiscounted and followed by a line on the configured
discount product with price ``-amount`` and the same taxes, which carries the amount to
the Rial. Odoo computes the totals itself; :class:`QuotationResult` reports Odoo's total
next to the CRM's so the caller can record any difference instead of hiding it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.errors import MappingError, PermanentError
from erp.errors import SaleNotReady
from erp.odoo.client import OdooClient
from erp.odoo.values import to_decimal
from erp.odoo.wizards import press

__all__ = ["QuotationData", "QuotationLine", "QuotationResult", "Sales"]


_ORDER_FIELDS = (
    "name",
    "state",
    "client_order_ref",
    "amount_untaxed",
    "amount_tax",
    "amount_total",
    "invoice_ids",
)


@dataclass(frozen=True)
class QuotationLine:
    """One pro-forma line with every amount explicit, so Odoo recomputes nothing on its own.

    ``discount_amount`` is the CRM's discount for the whole line in currency units;
    ``tax_ids`` are Odoo ``account.tax`` ids (empty: no tax on this line).
    """

    product_id: int
    quantity: Decimal
    price_unit: Decimal
    discount_amount: Decimal = Decimal(0)
    tax_ids: tuple[int, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class QuotationData:
    """A CRM pro-forma invoice as an Odoo quotation (``sale.order``).

    ``expected_total`` is the CRM's total including taxes; ``discount_product_id`` is
    the product that carries discounts no percentage can express exactly (a service
    product; required only when such a discount occurs). ``extra`` is written on the
    order as given (``pricelist_id``, ``validity_date``, ``user_id``...).
    """

    crm_id: str
    partner_id: int
    lines: tuple[QuotationLine, ...]
    expected_total: Decimal
    discount_product_id: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuotationResult:
    """The Odoo quotation of a pro-forma, with Odoo's totals next to the CRM's.

    ``created`` and ``updated`` say what this call did (a confirmed or cancelled order
    is never changed: both are then False). ``difference`` is Odoo's total minus the
    CRM's; a non-zero difference must be recorded on the binding.
    """

    order_id: int
    name: str
    state: str
    created: bool
    updated: bool
    amount_untaxed: Decimal
    amount_tax: Decimal
    amount_total: Decimal
    expected_total: Decimal

    @property
    def difference(self) -> Decimal:
        """Odoo's total minus the CRM's total."""
        return self.amount_total - self.expected_total

    @property
    def totals_match(self) -> bool:
        """True when Odoo's total equals the CRM's to the last unit."""
        return self.difference == 0


class Sales:
    """Quotations and sale orders of CRM pro-formas.

    ``discount_digits`` is the precision of Odoo's "Discount" decimal accuracy setting
    (2 unless changed in Odoo's settings).
    """

    def __init__(self, client: OdooClient, *, discount_digits: int = 2) -> None:
        self.client = client
        self.profile = client.profile
        self.discount_digits = discount_digits

    def upsert_quotation(self, quotation: QuotationData) -> QuotationResult:
        """Create the quotation of a pro-forma, or replace its lines while it is still a quotation.

        The order is found by ``client_order_ref``; once confirmed or cancelled it is
        left as it is. Odoo's totals are read back and returned next to the CRM's.
        """
        found = self.client.search_read(
            "sale.order",
            [("client_order_ref", "=", quotation.crm_id)],
            list(_ORDER_FIELDS),
            limit=2,
        )
        if len(found) > 1:
            raise PermanentError(
                f"several Odoo sale orders have the customer reference {quotation.crm_id!r}"
            )
        lines: list[Any] = []
        for line in quotation.lines:
            lines.extend((0, 0, values) for values in self._line_values(line, quotation))
        values = {"partner_id": quotation.partner_id, **quotation.extra}
        created = updated = False
        if not found:
            (order_id,) = self.client.create(
                "sale.order",
                [{**values, "client_order_ref": quotation.crm_id, "order_line": lines}],
            )
            created = True
        else:
            order_id = int(found[0]["id"])
            if found[0]["state"] in ("draft", "sent"):
                self.client.write(
                    "sale.order", [order_id], {**values, "order_line": [(5, 0, 0), *lines]}
                )
                updated = True
        (order,) = self.client.read("sale.order", [order_id], list(_ORDER_FIELDS))
        return QuotationResult(
            order_id=order_id,
            name=str(order["name"]),
            state=str(order["state"]),
            created=created,
            updated=updated,
            amount_untaxed=to_decimal(order["amount_untaxed"]),
            amount_tax=to_decimal(order["amount_tax"]),
            amount_total=to_decimal(order["amount_total"]),
            expected_total=quotation.expected_total,
        )

    def cancel_quotation(self, crm_id: str) -> tuple[int, str] | None:
        """Cancel a pro-forma's quotation while it is still one; (order id, state after).

        None when no order has ``crm_id`` as its customer reference. A draft or sent
        quotation is cancelled with ``action_cancel`` in the ``disable_cancel_warning``
        context, which skips the wizard Odoo opens for a sent quotation (it offers to
        e-mail the customer). A confirmed order is left as it is: its deliveries and
        invoices are for the staff to undo.
        """
        found = self.client.search_read(
            "sale.order", [("client_order_ref", "=", crm_id)], ["state"], limit=2
        )
        if len(found) > 1:
            raise PermanentError(f"several Odoo sale orders have the customer reference {crm_id!r}")
        if not found:
            return None
        order_id, state = int(found[0]["id"]), str(found[0]["state"])
        if state in ("draft", "sent"):
            press(
                self.client,
                "sale.order",
                "action_cancel",
                [order_id],
                context={"disable_cancel_warning": True},
            )
            (order,) = self.client.read("sale.order", [order_id], ["state"])
            state = str(order["state"])
        return order_id, state

    def _line_values(self, line: QuotationLine, quotation: QuotationData) -> list[dict[str, Any]]:
        tax_field = self.profile.sale_line_tax_field
        values: dict[str, Any] = {
            "product_id": line.product_id,
            "product_uom_qty": line.quantity,
            "price_unit": line.price_unit,
            "discount": 0,
            tax_field: [(6, 0, list(line.tax_ids))],
        }
        if line.description:
            values["name"] = line.description
        if not line.discount_amount:
            return [values]
        percent = self.discount_percent(line.price_unit, line.quantity, line.discount_amount)
        if percent is not None:
            return [{**values, "discount": percent}]
        if quotation.discount_product_id is None:
            raise MappingError(
                f"the discount of {line.discount_amount} on product {line.product_id} is no exact "
                f"percentage with {self.discount_digits} decimals, and no discount product is "
                "configured to carry it as its own line"
            )
        discount = {
            "product_id": quotation.discount_product_id,
            "product_uom_qty": 1,
            "price_unit": -line.discount_amount,
            "discount": 0,
            tax_field: [(6, 0, list(line.tax_ids))],
        }
        return [values, discount]

    def discount_percent(
        self, price_unit: Decimal, quantity: Decimal, amount: Decimal
    ) -> Decimal | None:
        """Return the percentage that takes exactly ``amount`` off the line, or None if none can.

        None when the line is free, the amount exceeds it, or the percentage needs more
        decimals than Odoo's "Discount" precision keeps.
        """
        gross = price_unit * quantity
        if gross <= 0 or amount < 0 or amount > gross:
            return None
        percent = amount * 100 / gross
        step = Decimal(1).scaleb(-self.discount_digits)
        if percent != percent.quantize(step) or gross * percent / 100 != amount:
            return None
        return percent.quantize(step).normalize()

    def confirm_order(self, order_id: int) -> str:
        """Confirm a quotation (``action_confirm``) unless it already is; return its new state."""
        (order,) = self.client.read("sale.order", [order_id], ["name", "state"])
        state = str(order["state"])
        if state == "cancel":
            raise PermanentError(
                f"Odoo sale order {order['name']} is cancelled; it cannot be confirmed"
            )
        if state in ("draft", "sent"):
            press(self.client, "sale.order", "action_confirm", [order_id])
            (order,) = self.client.read("sale.order", [order_id], ["state"])
        return str(order["state"])

    def confirmed_order(self, refs: Sequence[str], *, required: bool = True) -> int | None:
        """The confirmed sale order whose customer reference is one of ``refs``, tried in order.

        An order that is not confirmed yet, or none at all, is a TransientError when
        ``required`` (the finance plugin creates and confirms it); else None.
        """
        for ref in refs:
            rows = self.client.search_read(
                "sale.order",
                [("client_order_ref", "=", ref), ("state", "!=", "cancel")],
                ["state"],
                order="id desc",
                limit=1,
            )
            if not rows:
                continue
            if rows[0]["state"] in ("sale", "done"):
                return int(rows[0]["id"])
            if required:
                raise SaleNotReady(
                    f"Odoo sale order for {ref} is {rows[0]['state']}, not confirmed"
                )
            return None
        if required:
            raise SaleNotReady(f"Odoo has no confirmed sale order for {' or '.join(refs)}")
        return None

    def references(self, order_names: Iterable[str]) -> dict[str, str]:
        """The customer reference (``client_order_ref``, the CRM id) of each order name."""
        names = sorted(set(order_names))
        if not names:
            return {}
        rows = self.client.search_read(
            "sale.order", [("name", "in", names)], ["name", "client_order_ref"]
        )
        return {
            str(row["name"]): str(row["client_order_ref"])
            for row in rows
            if row.get("client_order_ref")
        }

    def reference_of(self, order_id: int) -> str | None:
        """The customer reference of one sale order, None when it has none."""
        (row,) = self.client.read("sale.order", [order_id], ["client_order_ref"])
        ref = row["client_order_ref"]
        return ref if isinstance(ref, str) and ref else None

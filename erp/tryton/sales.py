"""Sales in Tryton: a pro-forma is a quotation (``sale.sale``) found by its ``reference``.

Discount: the ``sale_discount`` module stores ``base_price`` (the undiscounted unit price)
on the sale line next to ``unit_price`` (the price actually charged); without that module
only ``unit_price`` exists, so the discount survives only in the price itself. Taxes:
each line carries its taxes explicitly (``taxes``); Tryton computes the tax amounts from
the rates and rounds them with the currency, so callers compare ``tax_amount`` and
``total_amount`` with their own. Line amounts are ``quantity * unit_price`` rounded by
the currency (whole Rials in IRR).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.errors import MappingError
from erp.errors import SaleNotReady
from erp.tryton.client import TrytonClient
from erp.tryton.lookups import Lookups
from erp.tryton.values import optional_decimal, to_decimal

__all__ = ["QuotationInput", "SaleLineInput", "SaleLineResult", "SaleResult", "Sales"]

_SALE_FIELDS = [
    "number",
    "reference",
    "state",
    "party",
    "untaxed_amount",
    "tax_amount",
    "total_amount",
    "currency.code",
    "invoice_state",
    "shipment_state",
    "invoices",
    "shipments",
    "shipment_returns",
    "lines",
]
_SALE_LINE_FIELDS = ["type", "product", "quantity", "unit", "unit_price", "amount", "taxes"]
#: Sale states once confirmed, and before.
_CONFIRMED = ("processing", "done")
_NOT_YET = ("draft", "quotation", "confirmed")


@dataclass(frozen=True)
class SaleLineInput:
    """One line of a quotation, every amount explicit.

    ``unit_price`` is what the customer pays per unit after discount; ``base_price`` is
    the undiscounted unit price (None: no discount). ``tax_ids`` are the line's taxes,
    sent as given (an empty tuple means no tax, not "the product's default taxes").
    ``unit_id`` defaults to the product's sale unit.
    """

    product_id: int
    quantity: Decimal
    unit_price: Decimal
    base_price: Decimal | None = None
    tax_ids: tuple[int, ...] = ()
    unit_id: int | None = None
    description: str | None = None


@dataclass(frozen=True)
class QuotationInput:
    """A CRM pro-forma invoice as a Tryton quotation, found again by ``crm_ref``.

    ``crm_ref`` goes into the sale's ``reference``. Addresses default to the party's
    first active address, the payment term to the one :class:`TrytonERP` was given.
    ``currency`` is the ISO code of the pro-forma's currency (None: the company's); a
    code Tryton has no currency for is a MappingError, never a sale in another currency.
    Tryton keeps no validity date on a sale (its ``quotation_validity`` is a duration
    from the sale date, configured per company), so ``valid_until`` stays in the CRM.
    """

    crm_ref: str
    party_id: int
    lines: tuple[SaleLineInput, ...]
    invoice_address_id: int | None = None
    shipment_address_id: int | None = None
    payment_term_id: int | None = None
    description: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class SaleLineResult:
    """One sale line as Tryton stored it; ``amount`` is Tryton's rounded line total."""

    id: int
    product_id: int | None
    quantity: Decimal
    unit_id: int | None
    unit_price: Decimal
    base_price: Decimal | None
    amount: Decimal
    tax_ids: tuple[int, ...]


@dataclass(frozen=True)
class SaleResult:
    """A Tryton sale (quotation, order or return) with its totals and linked documents."""

    id: int
    number: str | None
    reference: str | None
    state: str
    currency: str
    untaxed_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    invoice_state: str
    shipment_state: str
    lines: tuple[SaleLineResult, ...]
    invoice_ids: tuple[int, ...]
    shipment_ids: tuple[int, ...]
    return_ids: tuple[int, ...]
    created: bool = False


class Sales:
    """Quotations and sales of CRM pro-formas.

    ``payment_term`` names the payment term used when a quotation does not say.
    """

    def __init__(
        self, client: TrytonClient, lookups: Lookups, *, payment_term: str | None = None
    ) -> None:
        self.client = client
        self.lookups = lookups
        self.payment_term = payment_term

    def find_sale(self, crm_ref: str) -> int | None:
        """Return the id of the newest sale that is not cancelled with ``reference == crm_ref``."""
        found = self.client.search(
            "sale.sale",
            [("reference", "=", crm_ref), ("state", "!=", "cancelled")],
            limit=1,
            order=[("id", "DESC")],
        )
        return found[0] if found else None

    def create_quotation(self, quotation: QuotationInput) -> SaleResult:
        """Create the pro-forma's sale as a quotation, or return the one made before.

        A quotation found in ``draft`` or ``quotation`` whose lines differ from the input
        gets its lines replaced (back to draft, rewrite, quote again); a sale that has
        been confirmed is returned as it stands, never changed.
        """
        lines = self.line_values(quotation.lines)
        sale_id = self.find_sale(quotation.crm_ref)
        if sale_id is None:
            values = self.sale_header(
                quotation.crm_ref,
                quotation.party_id,
                invoice_address_id=quotation.invoice_address_id,
                shipment_address_id=quotation.shipment_address_id,
                payment_term_id=quotation.payment_term_id,
                description=quotation.description,
            )
            if quotation.currency is not None:
                values["currency"] = self.lookups.currency_id(quotation.currency)
            values["lines"] = [("create", lines)]
            (sale_id,) = self.client.create("sale.sale", [values])
            self.client.button("sale.sale", "quote", [sale_id])
            return self.sale(sale_id, created=True)
        current = self.sale(sale_id)
        if current.state in ("draft", "quotation") and not _same_lines(current.lines, lines):
            if current.state == "quotation":
                self.client.button("sale.sale", "draft", [sale_id])
            self.client.write(
                "sale.sale",
                [sale_id],
                {"lines": [("delete", [line.id for line in current.lines]), ("create", lines)]},
            )
            current = self.sale(sale_id)
        if current.state == "draft":
            self.client.button("sale.sale", "quote", [sale_id])
            current = self.sale(sale_id)
        return current

    def confirm_sale(self, sale_id: int) -> SaleResult:
        """Confirm a quotation so Tryton issues its invoice and shipments (idempotent).

        With no queue worker on the server, processing happens in the same call and the
        result lists the invoices and shipments; a server with a worker processes later,
        and the result then shows state ``confirmed`` until it has.
        """
        current = self.sale(sale_id)
        if current.state == "draft":
            self.client.button("sale.sale", "quote", [sale_id])
            current = self.sale(sale_id)
        if current.state == "quotation":
            self.client.button("sale.sale", "confirm", [sale_id])
            current = self.sale(sale_id)
        if current.state not in ("confirmed", "processing", "done"):
            raise MappingError(f"Tryton sale {sale_id} is {current.state}; it cannot be confirmed")
        return current

    def sale(self, sale_id: int, *, created: bool = False) -> SaleResult:
        """Read a sale with its lines, totals and linked invoices and shipments."""
        (row,) = self.client.read("sale.sale", [sale_id], _SALE_FIELDS)
        fields = list(_SALE_LINE_FIELDS)
        if self.lookups.supports_base_price():
            fields.append("base_price")
        line_rows = self.client.read("sale.line", row["lines"], fields)
        lines = tuple(
            SaleLineResult(
                id=line["id"],
                product_id=line["product"],
                quantity=to_decimal(line["quantity"]),
                unit_id=line["unit"],
                unit_price=to_decimal(line["unit_price"]),
                base_price=optional_decimal(line.get("base_price")),
                amount=to_decimal(line["amount"]),
                tax_ids=tuple(line["taxes"]),
            )
            for line in line_rows
            if line["type"] == "line"
        )
        return SaleResult(
            id=sale_id,
            number=row["number"],
            reference=row["reference"],
            state=row["state"],
            currency=row["currency."]["code"],
            untaxed_amount=to_decimal(row["untaxed_amount"]),
            tax_amount=to_decimal(row["tax_amount"]),
            total_amount=to_decimal(row["total_amount"]),
            invoice_state=row["invoice_state"],
            shipment_state=row["shipment_state"],
            lines=lines,
            invoice_ids=tuple(row["invoices"]),
            shipment_ids=tuple(row["shipments"]),
            return_ids=tuple(row["shipment_returns"]),
            created=created,
        )

    def sale_header(
        self,
        crm_ref: str,
        party_id: int,
        *,
        invoice_address_id: int | None,
        shipment_address_id: int | None,
        payment_term_id: int | None,
        description: str | None,
    ) -> dict[str, Any]:
        """The header values of a sale; missing addresses are the party's first address."""
        address = None
        if invoice_address_id is None or shipment_address_id is None:
            found = self.client.search(
                "party.address",
                [("party", "=", party_id)],
                limit=1,
                order=[("sequence", "ASC"), ("id", "ASC")],
            )
            if not found:
                raise MappingError(
                    f"Tryton party {party_id} has no address; a sale needs one to invoice and ship"
                )
            address = found[0]
        values: dict[str, Any] = {
            "party": party_id,
            "reference": crm_ref,
            "invoice_address": invoice_address_id or address,
            "shipment_address": shipment_address_id or address,
        }
        if payment_term_id is None and self.payment_term:
            payment_term_id = self.lookups.payment_term_id(self.payment_term)
        if payment_term_id is not None:
            values["payment_term"] = payment_term_id
        if description:
            values["description"] = description
        return values

    def _sale_units(self, product_ids: Sequence[int]) -> dict[int, int]:
        rows = self.client.read("product.product", list(dict.fromkeys(product_ids)), ["sale_uom"])
        return {row["id"]: row["sale_uom"] for row in rows}

    def line_values(self, lines: Sequence[SaleLineInput]) -> list[dict[str, Any]]:
        """The ``sale.line`` values of ``lines``: units default to the product's sale unit."""
        if not lines:
            raise MappingError("a Tryton sale needs at least one line")
        missing_units = [line.product_id for line in lines if line.unit_id is None]
        units = self._sale_units(missing_units) if missing_units else {}
        with_base_price = self.lookups.supports_base_price()
        values = []
        for line in lines:
            value: dict[str, Any] = {
                "type": "line",
                "product": line.product_id,
                "quantity": float(line.quantity),
                "unit": line.unit_id or units[line.product_id],
                "unit_price": line.unit_price,
                "taxes": [("add", list(line.tax_ids))],
            }
            if with_base_price:
                value["base_price"] = (
                    line.base_price if line.base_price is not None else line.unit_price
                )
            if line.description:
                value["description"] = line.description
            values.append(value)
        return values

    def confirmed_sale(self, refs: Sequence[str], *, required: bool = True) -> int | None:
        """The confirmed sale carrying one of ``refs``, trying them in order.

        A sale that exists but is not confirmed yet, or none at all, is a TransientError
        when ``required``: the finance plugin creates and confirms it. Else None.
        """
        for ref in refs:
            sale_id = self.find_sale(ref)
            if sale_id is None:
                continue
            state = self.sale(sale_id).state
            if state in _CONFIRMED:
                return sale_id
            if state in _NOT_YET:
                if required:
                    raise SaleNotReady(
                        f"Tryton sale {sale_id} ({ref}) is {state}; it is reserved once confirmed"
                    )
                return None
        if required:
            raise SaleNotReady(f"Tryton has no confirmed sale with reference {' or '.join(refs)}")
        return None

    def cancel_quotation(self, crm_ref: str) -> tuple[int, str] | None:
        """Cancel the sale of ``crm_ref`` while it is a draft or quotation; (sale id, state before).

        None when Tryton has no such sale; a confirmed sale is left as it is (its
        shipments and invoices are for the staff to undo), and its state is returned.
        """
        sale_id = self.find_sale(crm_ref)
        if sale_id is None:
            return None
        state = self.sale(sale_id).state
        if state in ("draft", "quotation"):
            self.client.button("sale.sale", "cancel", [sale_id])
        return sale_id, state

    def references(self, sale_ids: Iterable[int]) -> dict[int, str]:
        """The ``reference`` (the CRM id) of each sale that has one."""
        rows = self.client.read("sale.sale", sorted(set(sale_ids)), ["reference"])
        return {row["id"]: row["reference"] for row in rows if row["reference"]}

    def line_references(self, line_ids: Iterable[int]) -> dict[int, str | None]:
        """The sale ``reference`` (the CRM id) of each sale line's sale."""
        lines = self.client.read("sale.line", sorted(set(line_ids)), ["sale"])
        sale_ids = sorted({int(line["sale"]) for line in lines if line.get("sale")})
        rows = self.client.read("sale.sale", sale_ids, ["reference"])
        sales = {int(row["id"]): row.get("reference") for row in rows}
        return {
            int(line["id"]): sales.get(int(line["sale"])) if line.get("sale") else None
            for line in lines
        }


def _same_lines(current: Sequence[SaleLineResult], wanted: Sequence[Mapping[str, Any]]) -> bool:
    def current_key(line: SaleLineResult) -> tuple[Any, ...]:
        return (
            line.product_id,
            line.quantity,
            line.unit_id,
            line.unit_price,
            line.base_price if line.base_price is not None else None,
            tuple(sorted(line.tax_ids)),
        )

    def wanted_key(line: Mapping[str, Any]) -> tuple[Any, ...]:
        (_, taxes) = line["taxes"][0]
        return (
            line["product"],
            to_decimal(line["quantity"]),
            line["unit"],
            to_decimal(line["unit_price"]),
            optional_decimal(line.get("base_price")),
            tuple(sorted(taxes)),
        )

    return sorted(map(current_key, current), key=repr) == sorted(map(wanted_key, wanted), key=repr)

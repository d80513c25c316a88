"""The Odoo document flows shared by the finance, inventory and production plugins.

Each operation is idempotent by the CRM's id: it looks the document up before creating
it, so a retried job, or one that crashed between "Odoo created it" and "we recorded the
id", never creates a second one. Where the CRM id lives in Odoo:

- customers: ``res.partner.ref`` (the partner's "Reference"); extra addresses are child
  partners whose ``ref`` is ``<crm id>/<address key>``;
- products: ``product.product.default_code`` (the SKU, "Internal Reference");
- pro-forma invoices: ``sale.order.client_order_ref`` ("Customer Reference");
- returns and service-part pickings: ``stock.picking.origin`` ("Source Document").
  Odoo also writes sale order names there, so give these ids a prefix of their kind
  (``rma-``, ``svc-``) that no Odoo sequence uses.

Field names and behaviour follow Odoo's sources for 16, 17 and 18 (see
:class:`~core.connectors.odoo.VersionProfile`): ``sale.order`` ``action_confirm``
(draft/sent -> sale), invoices through the ``sale.advance.payment.inv`` wizard
(``create_invoices``; ``sale.order._create_invoices`` is private and cannot be called
over RPC), ``account.move`` ``action_post`` (returns False), ``payment_state`` one of
``not_paid``, ``in_payment``, ``paid``, ``partial``, ``reversed``, ``invoicing_legacy``;
``stock.picking`` ``action_assign`` / ``do_unreserve`` (returns None), states
``draft``, ``waiting``, ``confirmed``, ``assigned``, ``done``, ``cancel`` (moves also
``partially_available``); returns through the ``stock.return.picking`` wizard;
``mrp.production`` states ``draft``, ``confirmed``, ``progress``, ``to_close``,
``done``, ``cancel``.

Amounts: Odoo's ``discount`` is a percentage stored with the "Discount" decimal
precision (2 digits by default). A CRM discount given as an amount is sent as that
percentage only when the percentage is exact at that precision; otherwise the line is
sent undiscounted and followed by a line on the configured discount product with price
``-amount`` and the same taxes, which carries the amount to the Rial. Odoo computes the
totals itself; :class:`QuotationResult` reports Odoo's total next to the CRM's so the
caller can record any difference instead of hiding it.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from core.connectors.odoo import (
    OdooClient,
    PollCursor,
    many2one_id,
    odoo_value,
    parse_date,
    parse_datetime,
    poll_changes,
    to_decimal,
)
from core.errors import MappingError, PermanentError

__all__ = [
    "AddressData",
    "Changes",
    "InvoiceStatus",
    "MoveStatus",
    "OdooFlows",
    "PartnerData",
    "PartnerRef",
    "PartsRequest",
    "PickingStatus",
    "ProductData",
    "ProductRef",
    "ProductionStatus",
    "QuotationData",
    "QuotationLine",
    "QuotationResult",
    "ReturnLine",
    "ReturnRequest",
]

T = TypeVar("T")

_PARTNER_FIELDS = (
    "name",
    "is_company",
    "ref",
    "vat",
    "street",
    "street2",
    "city",
    "zip",
    "country_id",
    "phone",
    "mobile",
    "email",
)
_ADDRESS_FIELDS = (
    "name",
    "type",
    "ref",
    "street",
    "street2",
    "city",
    "zip",
    "country_id",
    "phone",
    "email",
)
_ORDER_FIELDS = (
    "name",
    "state",
    "client_order_ref",
    "amount_untaxed",
    "amount_tax",
    "amount_total",
    "invoice_ids",
)
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
_PICKING_FIELDS = ("name", "state", "picking_type_code", "origin", "scheduled_date", "date_done")

#: How a stock move's state reads as a reservation (stock.move ``state`` selection).
_RESERVATION = {
    "draft": "draft",
    "waiting": "waiting",
    "confirmed": "unavailable",
    "partially_available": "partially_reserved",
    "assigned": "reserved",
    "done": "done",
    "cancel": "cancelled",
}


# -- what goes in -----------------------------------------------------------------------


@dataclass(frozen=True)
class AddressData:
    """An extra address of a customer, kept in Odoo as a child partner.

    ``key`` is the CRM's id of this address, unique within the customer; ``kind`` is the
    child partner's ``type``.
    """

    key: str
    kind: Literal["invoice", "delivery", "other", "contact"]
    name: str | None = None
    street: str | None = None
    street2: str | None = None
    city: str | None = None
    zip: str | None = None
    country_code: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class PartnerData:
    """A CRM customer as Odoo's ``res.partner`` needs it.

    ``vat`` carries the fiscal identifier Odoo prints on invoices (the economic code of
    an Iranian company, or a person's national ID). ``extra`` is written as given, for
    fields the CRM maps itself (for example ``company_registry`` from 17, ``lang`` or
    ``state_id``). None clears a field in Odoo: the CRM is the source of these values.
    """

    crm_id: str
    name: str
    is_company: bool
    vat: str | None = None
    street: str | None = None
    street2: str | None = None
    city: str | None = None
    zip: str | None = None
    country_code: str | None = None
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None
    addresses: tuple[AddressData, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductData:
    """A CRM product as Odoo's ``product.product`` needs it, keyed by its SKU.

    ``kind`` ``goods`` is a stock-tracked product (needs the Inventory app), ``consumable``
    is delivered without stock levels, ``service`` is never delivered. ``invoice_policy``
    ``order`` lets the invoice follow the confirmation at once (the pro-forma flow);
    ``delivery`` invoices only what was delivered. ``tax_ids`` are Odoo ``account.tax``
    ids (None leaves Odoo's default sales taxes).
    """

    sku: str
    name: str
    kind: Literal["goods", "consumable", "service"]
    list_price: Decimal
    invoice_policy: Literal["order", "delivery"] = "order"
    tax_ids: tuple[int, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


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
class ReturnLine:
    """A product and quantity to take back."""

    product_id: int
    quantity: Decimal


@dataclass(frozen=True)
class ReturnRequest:
    """A CRM return (RMA) of goods from a done delivery ``picking_id``.

    ``crm_id`` becomes the return picking's ``origin``: prefix it (``rma-42``) so it can
    never equal another picking's origin.
    """

    crm_id: str
    picking_id: int
    lines: tuple[ReturnLine, ...]
    reason: str | None = None


@dataclass(frozen=True)
class PartsRequest:
    """Parts to reserve for a CRM service case, as a picking of ``picking_type_id``.

    The locations are Odoo ``stock.location`` ids (for example the warehouse stock and
    the customer or repair location); ``lines`` are ``(product id, quantity)``.
    ``crm_id`` becomes the picking's ``origin``: prefix it (``svc-42``).
    """

    crm_id: str
    picking_type_id: int
    location_id: int
    location_dest_id: int
    lines: tuple[tuple[int, Decimal], ...]
    partner_id: int | None = None


# -- what comes back --------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerRef:
    """The Odoo partner of a CRM customer, its extra addresses by key, and whether it is new."""

    partner_id: int
    created: bool
    addresses: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductRef:
    """The Odoo product of a CRM SKU and whether this call created it."""

    sku: str
    product_id: int
    created: bool


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

    @property
    def paid(self) -> bool:
        """True when nothing is left to pay (``paid``, or ``in_payment`` awaiting the bank)."""
        return self.payment_state in ("paid", "in_payment")

    @property
    def partly_paid(self) -> bool:
        """True when some but not all of the invoice is paid."""
        return self.payment_state == "partial"


@dataclass(frozen=True)
class MoveStatus:
    """One stock move (a picking line) with its demand, reserved and done quantities.

    ``reserved`` counts only while the move is open and ``done`` only once it is done,
    whatever the Odoo version keeps in which field.
    """

    move_id: int
    picking_id: int | None
    product_id: int | None
    sale_line_id: int | None
    state: str
    demand: Decimal
    reserved: Decimal
    done: Decimal

    @property
    def reservation(self) -> str:
        """The move's state as a reservation: ``reserved``, ``partially_reserved``, ``unavailable``.

        Also ``waiting`` (for another operation), ``draft``, ``done`` or ``cancelled``.
        """
        return _RESERVATION.get(self.state, self.state)


@dataclass(frozen=True)
class PickingStatus:
    """A delivery, receipt or return with its moves.

    ``type_code`` is ``outgoing`` for deliveries and ``incoming`` for receipts and
    customer returns; a done outgoing picking is shipped, a done return is received.
    """

    picking_id: int
    name: str
    state: str
    type_code: str | None
    origin: str | None
    scheduled_date: dt.datetime | None
    date_done: dt.datetime | None
    moves: tuple[MoveStatus, ...] = ()

    @property
    def done(self) -> bool:
        """True once the goods have physically moved."""
        return self.state == "done"


@dataclass(frozen=True)
class ProductionStatus:
    """A manufacturing order: stage, progress and the dates that set a delivery promise.

    ``date_finished`` is the planned end while the order runs and the real end once it
    is done; ``date_deadline`` is the date it must be finished by to deliver on time.
    """

    production_id: int
    name: str
    state: str
    origin: str | None
    product_id: int | None
    product_qty: Decimal
    qty_produced: Decimal
    date_start: dt.datetime | None
    date_finished: dt.datetime | None
    date_deadline: dt.datetime | None

    @property
    def progress(self) -> Decimal:
        """Share of the quantity already produced, from 0 to 1."""
        if self.product_qty <= 0:
            return Decimal(0)
        return min(Decimal(1), self.qty_produced / self.product_qty)


@dataclass(frozen=True)
class Changes(Generic[T]):
    """What one poll found: the changed documents, the cursor to save, and whether more wait."""

    items: list[T]
    cursor: PollCursor
    has_more: bool


# -- the flows --------------------------------------------------------------------------


class OdooFlows:
    """The finance, inventory and production operations on one Odoo database.

    ``discount_digits`` is the precision of Odoo's "Discount" decimal accuracy setting
    (2 unless changed in Odoo's settings).
    """

    def __init__(self, client: OdooClient, *, discount_digits: int = 2) -> None:
        self.client = client
        self.profile = client.profile
        self.discount_digits = discount_digits

    # -- customers ----------------------------------------------------------------------

    def upsert_partner(self, partner: PartnerData) -> PartnerRef:
        """Find the partner whose ``ref`` is the CRM id (archived ones too), create or update it.

        Only fields whose value differs are written. Extra addresses become child
        partners found again by their own ``ref``.
        """
        countries = self._countries(
            [partner.country_code, *(address.country_code for address in partner.addresses)]
        )
        found = self.client.search_read(
            "res.partner",
            [("ref", "=", partner.crm_id)],
            [*_PARTNER_FIELDS, *partner.extra],
            limit=2,
            context={"active_test": False},
        )
        if len(found) > 1:
            raise PermanentError(
                f"several Odoo partners have the reference {partner.crm_id!r}; merge them in Odoo"
            )
        values = {
            "name": partner.name,
            "is_company": partner.is_company,
            "ref": partner.crm_id,
            "vat": partner.vat,
            "street": partner.street,
            "street2": partner.street2,
            "city": partner.city,
            "zip": partner.zip,
            "country_id": countries.get(partner.country_code or ""),
            "phone": partner.phone,
            "mobile": partner.mobile,
            "email": partner.email,
            **partner.extra,
        }
        if found:
            partner_id = int(found[0]["id"])
            self._write_changes("res.partner", found[0], values)
            created = False
        else:
            (partner_id,) = self.client.create("res.partner", [_odoo_values(values)])
            created = True
        addresses = (
            self._upsert_addresses(partner, partner_id, countries) if partner.addresses else {}
        )
        return PartnerRef(partner_id=partner_id, created=created, addresses=addresses)

    def _upsert_addresses(
        self, partner: PartnerData, partner_id: int, countries: Mapping[str, int]
    ) -> dict[str, int]:
        refs = {f"{partner.crm_id}/{address.key}": address for address in partner.addresses}
        found = self.client.search_read(
            "res.partner",
            [("parent_id", "=", partner_id), ("ref", "in", sorted(refs))],
            list(_ADDRESS_FIELDS),
            context={"active_test": False},
        )
        existing = {str(row["ref"]): row for row in found}
        result: dict[str, int] = {}
        to_create: list[tuple[str, dict[str, Any]]] = []
        for ref, address in refs.items():
            values = {
                "parent_id": partner_id,
                "type": address.kind,
                "ref": ref,
                "name": address.name,
                "street": address.street,
                "street2": address.street2,
                "city": address.city,
                "zip": address.zip,
                "country_id": countries.get(address.country_code or ""),
                "phone": address.phone,
                "email": address.email,
            }
            if ref in existing:
                row = existing[ref]
                self._write_changes(
                    "res.partner", row, {k: v for k, v in values.items() if k != "parent_id"}
                )
                result[address.key] = int(row["id"])
            else:
                to_create.append((address.key, values))
        if to_create:
            ids = self.client.create(
                "res.partner", [_odoo_values(values) for _, values in to_create]
            )
            result.update({key: new_id for (key, _), new_id in zip(to_create, ids, strict=True)})
        return result

    def _countries(self, codes: Sequence[str | None]) -> dict[str, int]:
        wanted = sorted({code.upper() for code in codes if code})
        if not wanted:
            return {}
        rows = self.client.search_read("res.country", [("code", "in", wanted)], ["code"])
        found = {str(row["code"]).upper(): int(row["id"]) for row in rows}
        missing = [code for code in wanted if code not in found]
        if missing:
            raise MappingError(f"Odoo knows no country with the code {', '.join(missing)}")
        return {code: found[code.upper()] for code in codes if code}

    # -- products -----------------------------------------------------------------------

    def upsert_product(self, product: ProductData) -> ProductRef:
        """Find the product whose ``default_code`` is the SKU; create or update it."""
        return self.upsert_products([product])[0]

    def upsert_products(self, products: Sequence[ProductData]) -> list[ProductRef]:
        """Like :meth:`upsert_product` for many SKUs: one search and one batch create."""
        if not products:
            return []
        skus = [product.sku for product in products]
        if len(set(skus)) != len(skus):
            raise MappingError("the same SKU appears twice in one product batch")
        values_by_sku = {product.sku: self._product_values(product) for product in products}
        fields = sorted({key for values in values_by_sku.values() for key in values} - {"sale_ok"})
        found = self.client.search_read(
            "product.product",
            [("default_code", "in", skus)],
            fields,
            context={"active_test": False},
        )
        by_sku: dict[str, dict[str, Any]] = {}
        for row in found:
            sku = str(row["default_code"])
            if sku in by_sku:
                raise PermanentError(
                    f"several Odoo products have the SKU {sku!r}; merge them in Odoo"
                )
            by_sku[sku] = row
        refs: dict[str, ProductRef] = {}
        for sku, row in by_sku.items():
            values = {k: v for k, v in values_by_sku[sku].items() if k != "sale_ok"}
            self._write_changes("product.product", row, values)
            refs[sku] = ProductRef(sku=sku, product_id=int(row["id"]), created=False)
        missing = [sku for sku in skus if sku not in by_sku]
        if missing:
            ids = self.client.create(
                "product.product", [_odoo_values(values_by_sku[sku]) for sku in missing]
            )
            for sku, new_id in zip(missing, ids, strict=True):
                refs[sku] = ProductRef(sku=sku, product_id=new_id, created=True)
        return [refs[sku] for sku in skus]

    def _product_values(self, product: ProductData) -> dict[str, Any]:
        kinds = {
            "goods": self.profile.goods_values,
            "consumable": self.profile.consumable_values,
            "service": self.profile.service_values,
        }
        values: dict[str, Any] = {
            "name": product.name,
            "default_code": product.sku,
            "list_price": product.list_price,
            "invoice_policy": product.invoice_policy,
            "sale_ok": True,
            **kinds[product.kind],
        }
        if product.tax_ids is not None:
            values["taxes_id"] = [(6, 0, list(product.tax_ids))]
        values.update(product.extra)
        return values

    # -- quotations and invoices --------------------------------------------------------

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
            self.client.call(
                "sale.order", "action_cancel", [order_id], context={"disable_cancel_warning": True}
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
            self.client.call("sale.order", "action_confirm", [order_id])
            (order,) = self.client.read("sale.order", [order_id], ["state"])
        return str(order["state"])

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
            self.client.call("account.move", "action_post", [invoice.invoice_id])
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

    # -- stock --------------------------------------------------------------------------

    def deliveries_of(self, order_id: int) -> list[PickingStatus]:
        """Read every picking of a sale order (deliveries and returns) with its moves."""
        rows = self.client.search_read(
            "stock.picking", [("sale_id", "=", order_id)], list(_PICKING_FIELDS), order="id asc"
        )
        return self._with_moves(rows)

    def read_picking(self, picking_id: int) -> PickingStatus:
        """Read one picking with its moves."""
        rows = self.client.read("stock.picking", [picking_id], list(_PICKING_FIELDS))
        return self._with_moves(rows)[0]

    def reserve(self, picking_id: int) -> PickingStatus:
        """Reserve stock for an open picking (``action_assign``); done or cancelled ones stay."""
        (picking,) = self.client.read("stock.picking", [picking_id], ["state"])
        if picking["state"] not in ("done", "cancel"):
            self.client.call("stock.picking", "action_assign", [picking_id])
        return self.read_picking(picking_id)

    def release(self, picking_id: int) -> PickingStatus:
        """Give back the stock reserved for a picking (``do_unreserve``); a no-op when none is."""
        (picking,) = self.client.read("stock.picking", [picking_id], ["state"])
        if picking["state"] in ("assigned", "confirmed", "waiting"):
            self.client.call("stock.picking", "do_unreserve", [picking_id])
        return self.read_picking(picking_id)

    def reserve_parts(self, request: PartsRequest) -> PickingStatus:
        """Create (once) the picking of a service case's parts, confirm it and reserve them.

        A cancelled picking of the same case (released earlier) is not reused: asking
        again after a release makes a new one.
        """
        found = self.client.search(
            "stock.picking",
            [
                ("origin", "=", request.crm_id),
                ("picking_type_id", "=", request.picking_type_id),
                ("state", "!=", "cancel"),
            ],
            limit=1,
        )
        if found:
            return self.reserve(found[0])
        product_ids = [product_id for product_id, _ in request.lines]
        units = {
            int(row["id"]): many2one_id(row["uom_id"])
            for row in self.client.read("product.product", product_ids, ["uom_id"])
        }
        moves = [
            (
                0,
                0,
                {
                    "name": request.crm_id,
                    "product_id": product_id,
                    "product_uom_qty": quantity,
                    "product_uom": units[product_id],
                    "location_id": request.location_id,
                    "location_dest_id": request.location_dest_id,
                },
            )
            for product_id, quantity in request.lines
        ]
        values: dict[str, Any] = {
            "picking_type_id": request.picking_type_id,
            "location_id": request.location_id,
            "location_dest_id": request.location_dest_id,
            "origin": request.crm_id,
            "move_ids": moves,
        }
        if request.partner_id is not None:
            values["partner_id"] = request.partner_id
        (picking_id,) = self.client.create("stock.picking", [values])
        self.client.call("stock.picking", "action_confirm", [picking_id])
        return self.reserve(picking_id)

    def create_return(self, request: ReturnRequest) -> PickingStatus:
        """Create (once) the return of a done delivery through the ``stock.return.picking`` wizard.

        The wizard is filled as a user would: created on the delivery, its lines set to
        the requested quantities (others to 0), then confirmed. The new return picking
        gets the CRM id as ``origin`` and the reason as its note. If a crash left an
        unmarked return of the same delivery with exactly these lines, it is claimed
        instead of creating another.
        """
        found = self.client.search("stock.picking", [("origin", "=", request.crm_id)], limit=1)
        if found:
            return self.read_picking(found[0])
        (source,) = self.client.read("stock.picking", [request.picking_id], ["name", "state"])
        if source["state"] != "done":
            raise PermanentError(
                f"Odoo picking {source['name']} is {source['state']!r}; only done deliveries "
                "can be returned"
            )
        context = {
            "lang": "en_US",
            "active_model": "stock.picking",
            "active_id": request.picking_id,
            "active_ids": [request.picking_id],
        }
        return_id = self._unclaimed_return(str(source["name"]), request)
        if return_id is None:
            return_id = self._run_return_wizard(request, context)
        marks: dict[str, Any] = {"origin": request.crm_id}
        if request.reason:
            marks["note"] = f"<p>{html.escape(request.reason)}</p>"
        self.client.write("stock.picking", [return_id], marks)
        return self.read_picking(return_id)

    def _unclaimed_return(self, source_name: str, request: ReturnRequest) -> int | None:
        candidates = self.client.search(
            "stock.picking", [("origin", "=", f"Return of {source_name}")], order="id asc"
        )
        if not candidates:
            return None
        wanted = _quantities((line.product_id, line.quantity) for line in request.lines)
        moves = self.client.search_read(
            "stock.move",
            [("picking_id", "in", candidates)],
            ["picking_id", "product_id", "product_uom_qty"],
            order="id asc",
        )
        for candidate in candidates:
            lines = _quantities(
                (many2one_id(move["product_id"]), to_decimal(move["product_uom_qty"]))
                for move in moves
                if many2one_id(move["picking_id"]) == candidate
            )
            if lines == wanted:
                return candidate
        return None

    def _run_return_wizard(self, request: ReturnRequest, context: Mapping[str, Any]) -> int:
        wizard = "stock.return.picking"
        (wizard_id,) = self.client.create(
            wizard, [{"picking_id": request.picking_id}], context=context
        )
        lines = self.client.search_read(
            "stock.return.picking.line",
            [("wizard_id", "=", wizard_id)],
            ["product_id", "move_id", "quantity"],
            order="id asc",
        )
        wanted = _quantities((line.product_id, line.quantity) for line in request.lines)
        commands: list[Any] = []
        for row in lines:
            product_id = many2one_id(row["product_id"])
            quantity = wanted.pop(product_id, Decimal(0)) if product_id is not None else Decimal(0)
            commands.append((1, int(row["id"]), {"quantity": quantity}))
        if wanted:
            raise MappingError(
                f"products {sorted(map(str, wanted))} were not delivered in Odoo picking "
                f"{request.picking_id}"
            )
        self.client.write(wizard, [wizard_id], {"product_return_moves": commands}, context=context)
        action = self.client.call(wizard, self.profile.return_method, [wizard_id], context=context)
        if not isinstance(action, Mapping) or not isinstance(action.get("res_id"), int):
            raise PermanentError(
                f"Odoo's return wizard answered no return picking: {action!r:.200}"
            )
        return int(action["res_id"])

    def _with_moves(self, rows: Sequence[Mapping[str, Any]]) -> list[PickingStatus]:
        if not rows:
            return []
        ids = [int(row["id"]) for row in rows]
        reserved_field = self.profile.move_reserved_field
        done_field = self.profile.move_done_field
        fields = sorted(
            {
                "picking_id",
                "product_id",
                "sale_line_id",
                "state",
                "product_uom_qty",
                reserved_field,
                done_field,
            }
        )
        moves = self.client.search_read(
            "stock.move", [("picking_id", "in", ids)], fields, order="id asc"
        )
        by_picking: dict[int, list[MoveStatus]] = {picking_id: [] for picking_id in ids}
        for move in moves:
            state = str(move["state"])
            status = MoveStatus(
                move_id=int(move["id"]),
                picking_id=many2one_id(move["picking_id"]),
                product_id=many2one_id(move["product_id"]),
                sale_line_id=many2one_id(move.get("sale_line_id", False)),
                state=state,
                demand=to_decimal(move["product_uom_qty"]),
                reserved=Decimal(0)
                if state in ("done", "cancel")
                else to_decimal(move[reserved_field]),
                done=to_decimal(move[done_field]) if state == "done" else Decimal(0),
            )
            if status.picking_id in by_picking:
                by_picking[status.picking_id].append(status)
        return [
            PickingStatus(
                picking_id=int(row["id"]),
                name=str(row["name"]),
                state=str(row["state"]),
                type_code=odoo_value(row.get("picking_type_code", False)),
                origin=odoo_value(row.get("origin", False)),
                scheduled_date=parse_datetime(row.get("scheduled_date")),
                date_done=parse_datetime(row.get("date_done")),
                moves=tuple(by_picking[int(row["id"])]),
            )
            for row in rows
        ]

    # -- production ---------------------------------------------------------------------

    def productions_of(self, order_name: str) -> list[ProductionStatus]:
        """Read the manufacturing orders made for a sale order, by its name (``S00042``).

        An MO belongs to the order when its ``origin`` is the order's name or its
        procurement group is the order's (the group Odoo names after the order).
        """
        rows = self.client.search_read(
            "mrp.production",
            ["|", ("origin", "=", order_name), ("procurement_group_id.name", "=", order_name)],
            self._production_fields(),
            order="id asc",
        )
        return [self._production(row) for row in rows]

    def _production_fields(self) -> list[str]:
        return sorted(
            {
                "name",
                "state",
                "origin",
                "product_id",
                "product_qty",
                "qty_produced",
                "date_deadline",
                self.profile.production_start_field,
                self.profile.production_finish_field,
            }
        )

    def _production(self, row: Mapping[str, Any]) -> ProductionStatus:
        return ProductionStatus(
            production_id=int(row["id"]),
            name=str(row["name"]),
            state=str(row["state"]),
            origin=odoo_value(row["origin"]),
            product_id=many2one_id(row["product_id"]),
            product_qty=to_decimal(row["product_qty"]),
            qty_produced=to_decimal(row["qty_produced"]),
            date_start=parse_datetime(row[self.profile.production_start_field]),
            date_finished=parse_datetime(row[self.profile.production_finish_field]),
            date_deadline=parse_datetime(row["date_deadline"]),
        )

    # -- polling ------------------------------------------------------------------------

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

    def poll_pickings(
        self, cursor: PollCursor, *, limit: int = 200, overlap_seconds: int = 60
    ) -> Changes[PickingStatus]:
        """Return deliveries and receipts (returns too) changed since ``cursor``, with moves."""
        batch = poll_changes(
            self.client,
            "stock.picking",
            list(_PICKING_FIELDS),
            cursor,
            domain=[("picking_type_code", "in", ["outgoing", "incoming"])],
            limit=limit,
            overlap_seconds=overlap_seconds,
        )
        return Changes(self._with_moves(batch.records), batch.cursor, batch.has_more)

    def poll_productions(
        self, cursor: PollCursor, *, limit: int = 200, overlap_seconds: int = 60
    ) -> Changes[ProductionStatus]:
        """Return manufacturing orders changed since ``cursor``."""
        batch = poll_changes(
            self.client,
            "mrp.production",
            self._production_fields(),
            cursor,
            limit=limit,
            overlap_seconds=overlap_seconds,
        )
        return Changes(
            [self._production(row) for row in batch.records], batch.cursor, batch.has_more
        )

    # -- helpers ------------------------------------------------------------------------

    def _write_changes(
        self, model: str, current: Mapping[str, Any], values: Mapping[str, Any]
    ) -> None:
        """Write the members of ``values`` that differ from the ``current`` row, if any."""
        changes = {
            key: value for key, value in values.items() if not _same(current.get(key, False), value)
        }
        if changes:
            self.client.write(model, [int(current["id"])], _odoo_values(changes))


def _odoo_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``values`` with None spelled as Odoo's empty value ``false``."""
    return {key: False if value is None else value for key, value in values.items()}


def _same(current: Any, wanted: Any) -> bool:
    """Tell whether a value read from Odoo already equals the one we would write.

    A many2one reads as ``[id, name]`` and is written as ``id``; an x2many command list
    ``[(6, 0, ids)]`` equals a read list of the same ids; ``false`` equals None; numbers
    compare exactly as decimals.
    """
    if wanted is None or wanted is False:
        return current is False or current is None or current == []
    if _is_set_command(wanted):
        return isinstance(current, list) and sorted(current) == sorted(wanted[0][2])
    if isinstance(current, list) and len(current) == 2 and isinstance(wanted, int):
        return bool(current[0] == wanted)
    if isinstance(wanted, bool) or isinstance(current, bool):
        return bool(current is wanted)
    if isinstance(wanted, int | float | Decimal) and isinstance(current, int | float):
        return to_decimal(current) == to_decimal(wanted)
    return bool(current == wanted)


def _is_set_command(value: Any) -> bool:
    """Tell whether ``value`` is an x2many "replace by these ids" command list ``[(6, 0, ids)]``."""
    return (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], list | tuple)
        and len(value[0]) == 3
        and value[0][0] == 6
    )


def _quantities(pairs: Iterable[tuple[int | None, Decimal]]) -> dict[int | None, Decimal]:
    """Add up quantities per product."""
    totals: dict[int | None, Decimal] = {}
    for product_id, quantity in pairs:
        totals[product_id] = totals.get(product_id, Decimal(0)) + quantity
    return totals


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
    )

"""Schemas of selling and fulfilling: products, pro-forma invoices, orders, stock, returns.

Money is exact. Taxes and discounts are carried per line exactly as the CRM computed
them and are never recomputed here; the totals below only add up what was sent, with
no rounding, so every figure is exact to the last Rial.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, localcontext
from typing import Literal, Self

from pydantic import ConfigDict, Field, StrictBool, computed_field, model_validator

from core.schemas.base import CanonicalModel, CurrencyCode, RecordId, exactly_one
from core.schemas.fields import (
    Day,
    Description,
    LongText,
    Name,
    NonNegativeAmount,
    Percent,
    Quantity,
    ShortText,
    Timestamp,
)

ProFormaStatus = Literal["draft", "sent", "approved", "rejected", "cancelled", "expired"]
OrderStatus = Literal[
    "draft", "confirmed", "in_production", "ready", "shipped", "delivered", "cancelled"
]
ReservationStatus = Literal["requested", "reserved", "partial", "unavailable", "released"]
ReturnStatus = Literal["requested", "received", "refunded", "replaced", "rejected"]
#: Where the ERP's invoice of a pro-forma stands: a draft, issued (numbered), or cancelled.
InvoiceState = Literal["draft", "posted", "cancelled"]
#: How much of that invoice the customer has paid.
PaymentState = Literal["not_paid", "partly_paid", "paid"]
#: How much of one reservation line the warehouse holds: all, some or none of it.
LineReservationState = Literal["reserved", "partly_reserved", "unavailable"]
#: How far the goods of an order have gone: ``shipped`` once they left the warehouse
#: (packed or handed to a carrier), ``delivered`` once they reached the customer.
DeliveryState = Literal["none", "partly_shipped", "shipped", "delivered"]
#: What the customer gets for returned goods: their money back or the same goods again.
ReturnResolution = Literal["refund", "replace"]

#: Largest number of lines one document may carry.
MAX_LINES = 1000

#: Arithmetic context of the totals: wide enough that the product of two 20-digit amounts
#: and the sum of MAX_LINES of them is exact, and trapping any rounding, so a total is
#: either exact or an error, never silently rounded.
_EXACT = Context(prec=80, traps=[Inexact, InvalidOperation, Overflow])


@contextmanager
def _exact() -> Iterator[None]:
    """Run the enclosed arithmetic in the exact context."""
    with localcontext(_EXACT):
        yield


class Product(CanonicalModel):
    """A product or service we sell; ``price`` is the list price per ``unit``.

    ``stock_tracked`` says the ERP keeps stock of it (a storable product in Odoo): only
    such goods can be reserved or made to order. ERPs create the product so; after that
    its type belongs to the ERP's staff.
    """

    sku: ShortText
    name: Name
    unit: ShortText | None = None
    price: NonNegativeAmount | None = None
    currency: CurrencyCode = "IRR"
    active: StrictBool = True
    stock_tracked: StrictBool = False


class SalesLine(CanonicalModel):
    """One priced line of a pro-forma invoice or an order.

    ``discount`` and ``tax`` are amounts for the whole line, as sent. Computed fields
    (in responses, never stored): ``gross`` = quantity x unit_price, ``net`` = gross -
    discount, ``total`` = net + tax. A discount larger than the gross amount is refused,
    and so is a tax larger than the net amount: no tax crm-sync carries (Iran's VAT is
    10%) reaches 100% of what it is levied on, so such a line is a mistake, not a sale.
    """

    product_id: RecordId
    description: LongText | None = None
    quantity: Quantity
    unit_price: NonNegativeAmount
    discount: NonNegativeAmount = Decimal(0)
    tax: NonNegativeAmount = Decimal(0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gross(self) -> Decimal:
        """Quantity times unit price, before discount and tax."""
        with _exact():
            return self.quantity * self.unit_price

    @computed_field  # type: ignore[prop-decorator]
    @property
    def net(self) -> Decimal:
        """Gross amount minus the line's discount."""
        with _exact():
            return self.gross - self.discount

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> Decimal:
        """Net amount plus the line's tax."""
        with _exact():
            return self.net + self.tax

    @model_validator(mode="after")
    def _discount_and_tax_within_line(self) -> Self:
        """Refuse a discount larger than the line's gross amount, a tax larger than its net."""
        if self.discount > self.gross:
            raise ValueError(
                f"discount {self.discount} is larger than the line amount {self.gross} "
                "(quantity x unit_price)"
            )
        if self.tax > self.net:
            raise ValueError(
                f"tax {self.tax} is larger than the line's net amount {self.net} "
                "(quantity x unit_price - discount): a tax rate over 100%"
            )
        return self


class PricedDocument(CanonicalModel):
    """Base of documents made of priced lines, with their totals as computed fields.

    ``subtotal`` is the sum of the lines' gross amounts, ``discount_total`` the sum of
    their discounts, ``tax_total`` the sum of their taxes, and ``total`` the sum of the
    line totals (= subtotal - discount_total + tax_total). All exact, none stored.
    """

    customer_id: RecordId
    number: ShortText
    currency: CurrencyCode = "IRR"
    lines: list[SalesLine] = Field(min_length=1, max_length=MAX_LINES)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def subtotal(self) -> Decimal:
        """Sum of the lines' gross amounts."""
        with _exact():
            return sum((line.gross for line in self.lines), Decimal(0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def discount_total(self) -> Decimal:
        """Sum of the lines' discounts."""
        with _exact():
            return sum((line.discount for line in self.lines), Decimal(0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tax_total(self) -> Decimal:
        """Sum of the lines' taxes."""
        with _exact():
            return sum((line.tax for line in self.lines), Decimal(0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> Decimal:
        """Sum of the line totals: what the customer pays."""
        with _exact():
            return sum((line.total for line in self.lines), Decimal(0))


class ProForma(PricedDocument):
    """A pro-forma invoice: the priced offer a customer approves before an order or invoice.

    The ERP fills in the invoice fields once it has issued the invoice of an approved
    pro-forma: ``invoice_number``, ``invoice_state``, ``payment_state``, ``amount_paid``
    and ``erp_total``, the invoice total as the ERP computed it (compare with ``total``).
    ``invoice_reported_at`` is when the ERP recorded the invoice state held here: a
    status recorded earlier than that arrives late and is ignored, so a delayed "posted,
    not paid" never undoes "paid".
    """

    issue_date: Day
    valid_until: Day | None = None
    status: ProFormaStatus = "draft"
    system_fields = frozenset(
        {
            "invoice_number",
            "invoice_state",
            "payment_state",
            "amount_paid",
            "erp_total",
            "invoice_reported_at",
        }
    )

    invoice_number: ShortText | None = None
    invoice_state: InvoiceState | None = None
    payment_state: PaymentState | None = None
    amount_paid: NonNegativeAmount | None = None
    erp_total: NonNegativeAmount | None = None
    invoice_reported_at: Timestamp | None = None

    @model_validator(mode="after")
    def _validity_after_issue(self) -> Self:
        """Refuse a pro-forma that expires before it is issued."""
        if self.valid_until is not None and self.valid_until < self.issue_date:
            raise ValueError(
                f"valid_until {self.valid_until} is before issue_date {self.issue_date}"
            )
        return self


class SalesOrder(PricedDocument):
    """A confirmed order; ``promised_date`` is the delivery date promised to the customer."""

    proforma_id: RecordId | None = None
    order_date: Day | None = None
    status: OrderStatus = "draft"
    system_fields = frozenset({"promised_date", "delivery_state"})

    promised_date: Day | None = None
    delivery_state: DeliveryState | None = None


class StockLine(CanonicalModel):
    """A quantity of one product; the warehouse fills in how much of it it holds.

    ``reserved_quantity`` and ``state`` stay None until the warehouse (or the ERP)
    answers the reservation request.
    """

    product_id: RecordId
    quantity: Quantity
    reserved_quantity: NonNegativeAmount | None = None
    state: LineReservationState | None = None


class StockReservation(CanonicalModel):
    """Stock held for exactly one order, pro-forma invoice or service case until ``expires_at``.

    ``reported_at`` is when the ERP recorded the state held here (the change time of
    what it holds, read by a poll): a state the ERP recorded earlier arrives late and
    is ignored, so a re-reservation reported once is not undone by an older report.
    """

    model_config = ConfigDict(
        json_schema_extra=exactly_one("order_id", "proforma_id", "service_case_id")
    )
    system_fields = frozenset({"reported_at"})

    order_id: RecordId | None = None
    proforma_id: RecordId | None = None
    service_case_id: RecordId | None = None
    lines: list[StockLine] = Field(min_length=1, max_length=MAX_LINES)
    status: ReservationStatus = "requested"
    expires_at: Timestamp | None = None
    reported_at: Timestamp | None = None

    @model_validator(mode="after")
    def _one_reason(self) -> Self:
        """Require exactly one of order_id, proforma_id and service_case_id."""
        given = [self.order_id, self.proforma_id, self.service_case_id]
        if sum(value is not None for value in given) != 1:
            raise ValueError(
                "a reservation is for exactly one of order_id, proforma_id or service_case_id"
            )
        return self


class ReturnLine(CanonicalModel):
    """A quantity of one product sent back, with the reason for this line if it has its own."""

    product_id: RecordId
    quantity: Quantity
    reason: Description | None = None


class ReturnRequest(CanonicalModel):
    """A return merchandise authorisation (RMA): goods of an order that come back, and why."""

    order_id: RecordId
    customer_id: RecordId
    reason: Description
    lines: list[ReturnLine] = Field(min_length=1, max_length=MAX_LINES)
    status: ReturnStatus = "requested"
    system_fields = frozenset({"resolution", "received_at", "refunded_amount"})

    resolution: ReturnResolution | None = None
    received_at: Timestamp | None = None
    refunded_amount: NonNegativeAmount | None = None


class ProductionStatus(CanonicalModel):
    """Where the work order of an order stands in production, and when it should be ready.

    ``reported_at`` is when the ERP recorded this state (its change time, or the
    webhook document's ``occurred_at``): a report older than the stored one is ignored,
    so a late or replayed report never takes a work order back in time.
    """

    order_id: RecordId
    work_order: ShortText
    stage: ShortText
    progress: Percent = 0
    eta: Day | None = None
    reported_at: Timestamp | None = None


__all__ = [
    "MAX_LINES",
    "DeliveryState",
    "InvoiceState",
    "LineReservationState",
    "OrderStatus",
    "PaymentState",
    "PricedDocument",
    "ProForma",
    "ProFormaStatus",
    "Product",
    "ProductionStatus",
    "ReservationStatus",
    "ReturnLine",
    "ReturnRequest",
    "ReturnResolution",
    "ReturnStatus",
    "SalesLine",
    "SalesOrder",
    "StockLine",
    "StockReservation",
]

"""Mapping between canonical records and the finance documents, in both directions.

Outbound, every record becomes a JSON document (the webhook backend sends it as it is;
the Tryton and Odoo backends translate it into their own calls). Inbound, an invoice
status (from a signed webhook or a poll of the ERP) becomes changes to the pro-forma.
Amounts stay exact decimals throughout: nothing here rounds.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.errors import MappingError
from core.locale import normalize_phone
from core.plugin_types import SyncRecord
from core.schemas.base import RecordId
from core.schemas.fields import NonNegativeAmount, ShortText, Timestamp
from core.schemas.sales import InvoiceState, PaymentState

#: How far (in currency units) ``net x rate`` may lie from a line's tax amount and still
#: be that rate: the CRM rounds tax amounts to the Rial.
TAX_TOLERANCE = Decimal(1)

#: Type of the inbound document that reports an invoice's state.
INVOICE_STATUS = "invoice_status"
#: Event published on a pro-forma when its invoice or payment state changes.
INVOICE_CHANGED = "proforma.invoice_changed"


def customer_document(record: SyncRecord) -> dict[str, Any]:
    """The finance view of a customer: the canonical fields plus phones in E.164.

    Phones are sent both as written and normalised, so the finance system can match a
    customer whichever spelling it holds.
    """
    data: dict[str, Any] = record.data.model_dump(mode="json")
    phones = data.get("phones") or []
    try:
        data["phones_e164"] = [normalize_phone(phone) for phone in phones]
    except ValueError as error:
        raise MappingError(f"customer {record.id}: {error}") from None
    return data


def product_document(record: SyncRecord) -> dict[str, Any]:
    """The finance view of a product: its canonical fields."""
    data: dict[str, Any] = record.data.model_dump(mode="json")
    return data


def proforma_document(record: SyncRecord) -> dict[str, Any]:
    """The finance view of a pro-forma: its fields with every line's and the totals' amounts.

    Discounts and taxes are the amounts the CRM computed per line; ``gross``, ``net`` and
    ``total`` (per line) and ``subtotal``, ``discount_total``, ``tax_total`` and
    ``total`` (per document) are their exact sums, so a receiver can check them.
    """
    data: dict[str, Any] = record.data.model_dump(mode="json")
    return data


MAPPERS = {
    "customer": customer_document,
    "product": product_document,
    "proforma": proforma_document,
}


def map_record(record: SyncRecord) -> dict[str, Any]:
    """Map any record the finance plugin subscribes to."""
    mapper = MAPPERS.get(record.type)
    if mapper is None:
        raise MappingError(f"the finance plugin does not map {record.type} records")
    return mapper(record)


def line_tax(net: Decimal, tax: Decimal, rates: dict[Decimal, str], *, where: str) -> str | None:
    """The ERP tax that carries a line's ``tax`` on its ``net`` amount; None for no tax.

    The rate is found from the amounts (``net x rate`` within a Rial of ``tax``), so the
    CRM's tax amount is carried as an explicit ERP tax instead of whatever default the
    ERP would apply. A tax with no configured rate is a mapping error naming the line.
    """
    if tax == 0:
        return None
    candidates = sorted(
        (abs(net * rate - tax), rate) for rate in rates if abs(net * rate - tax) < TAX_TOLERANCE
    )
    if not candidates:
        configured = ", ".join(f"{(rate * 100).normalize():f}%" for rate in sorted(rates)) or "none"
        raise MappingError(
            f"{where}: a tax of {tax} on {net} matches no configured tax rate "
            f"(settings taxes: {configured})"
        )
    return rates[candidates[0][1]]


# -- inbound ------------------------------------------------------------------------------


class InvoiceStatusDocument(BaseModel):
    """An invoice's state as the finance system reports it for one pro-forma.

    ``proforma_id`` is the CRM's id of the pro-forma the invoice was issued for;
    ``invoice_total`` is the invoice's total as the finance system computed it.
    """

    model_config = ConfigDict(extra="forbid", title="crm-sync invoice_status document")

    type: Literal["invoice_status"] = Field(description="always invoice_status")
    proforma_id: RecordId
    invoice_number: ShortText | None = None
    invoice_state: InvoiceState
    payment_state: PaymentState
    amount_paid: NonNegativeAmount | None = None
    invoice_total: NonNegativeAmount | None = None
    occurred_at: Timestamp | None = None


def invoice_status_payload(
    *,
    proforma_id: str,
    invoice_number: str | None,
    invoice_state: InvoiceState,
    payment_state: PaymentState,
    amount_paid: Decimal | None,
    invoice_total: Decimal | None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """An invoice-status document as JSON, validated (the polling backends build theirs here)."""
    document = InvoiceStatusDocument(
        type="invoice_status",
        proforma_id=proforma_id,
        invoice_number=invoice_number,
        invoice_state=invoice_state,
        payment_state=payment_state,
        amount_paid=amount_paid,
        invoice_total=invoice_total,
        occurred_at=occurred_at,
    )
    return document.model_dump(mode="json", exclude_none=True)


def is_stale(document: InvoiceStatusDocument, reported_at: datetime | None) -> bool:
    """Whether a status was recorded before the one the pro-forma holds (``reported_at``).

    Statuses arrive out of order when a sender's retries or a failed inbound event's
    retry overtake a later change; applying such a status would take the pro-forma
    back in time (a "posted, not paid" landing after "paid"). A status without a time,
    or a pro-forma holding none, cannot be ordered and is not stale; one recorded at the
    very same time is applied, as the later of the two to arrive.
    """
    if document.occurred_at is None or reported_at is None:
        return False
    return document.occurred_at < reported_at


def invoice_changes(document: InvoiceStatusDocument) -> dict[str, Any]:
    """The pro-forma fields an invoice-status document sets.

    The document's ``occurred_at``, when it has one, becomes ``invoice_reported_at``:
    later statuses are compared with it (see :func:`is_stale`).
    """
    changes: dict[str, Any] = {
        "invoice_state": document.invoice_state,
        "payment_state": document.payment_state,
    }
    if document.invoice_number is not None:
        changes["invoice_number"] = document.invoice_number
    if document.amount_paid is not None:
        changes["amount_paid"] = document.amount_paid
    if document.invoice_total is not None:
        changes["erp_total"] = document.invoice_total
    if document.occurred_at is not None:
        changes["invoice_reported_at"] = document.occurred_at.isoformat()
    return changes

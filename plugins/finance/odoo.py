"""The ``odoo`` backend: partners, products, sale orders and invoices over Odoo's JSON-RPC.

Outbound it runs the :mod:`erp.odoo` operations, each idempotent by the CRM's id
(partner ``ref``, product ``default_code``, sale order ``client_order_ref``). Inbound it
polls customer invoices with :meth:`erp.odoo.invoices.Invoices.poll_invoices` (whose
cursor hands out each change once even when records share a ``write_date``) and reports
them for the pro-forma whose sale order the invoice came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.errors import MappingError
from core.locale import normalize_digits, normalize_phone
from core.plugin_types import (
    HealthReport,
    InboundEvent,
    OutboundDocument,
    PluginContext,
    PollResult,
    PushResult,
)
from core.schemas.sales import InvoiceState, PaymentState
from erp.odoo import Odoo, OdooClient
from erp.odoo.invoices import InvoiceStatus
from erp.odoo.partners import AddressData, PartnerData
from erp.odoo.polling import PollCursor
from erp.odoo.products import ProductData
from erp.odoo.rights import FINANCE, rights_detail
from erp.odoo.sales import QuotationData, QuotationLine
from plugins.finance.backends import Dependencies, FinanceBackend, totals_note
from plugins.finance.mapping import INVOICE_STATUS, invoice_status_payload, line_tax
from plugins.finance.settings import FinanceSettings

#: Most changed invoices one poll hands out (it says ``more`` when others wait).
POLL_LIMIT = 200


def invoice_state(invoice: InvoiceStatus) -> InvoiceState:
    """Odoo's ``account.move`` state as the canonical invoice state."""
    if invoice.state == "posted":
        return "posted"
    if invoice.state == "cancel":
        return "cancelled"
    return "draft"


def payment_state(invoice: InvoiceStatus) -> PaymentState:
    """Odoo's ``payment_state`` as the canonical one (``in_payment`` counts as paid)."""
    if invoice.paid:
        return "paid"
    if invoice.partly_paid:
        return "partly_paid"
    return "not_paid"


class OdooBackend(FinanceBackend):
    """Partners, products, sale orders and invoices in one Odoo database (16 to 18)."""

    label = "Odoo"

    def __init__(self, context: PluginContext, settings: FinanceSettings) -> None:
        super().__init__(context, settings)
        assert settings.odoo is not None
        self.client = OdooClient.from_settings(settings.odoo, context.http)
        self.odoo = Odoo(self.client)

    # -- outbound -----------------------------------------------------------------------

    @staticmethod
    def partner(crm_id: str, data: Mapping[str, Any]) -> PartnerData:
        """A customer document as an Odoo partner.

        The first address is the partner's own, the others become child addresses; the
        first landline and mobile go to ``phone`` and ``mobile`` (E.164), the first email
        to ``email``; ``vat`` carries the economic code, or else the national id.
        """
        phones = [normalize_phone(phone) for phone in data.get("phones") or []]
        landlines = [p for p in phones if not p.startswith("+989")]
        mobiles = [p for p in phones if p.startswith("+989")]
        addresses = list(data.get("addresses") or [])
        first: Mapping[str, Any] = addresses[0] if addresses else {}
        vat = data.get("economic_code") or data.get("national_id")

        def zip_code(address: Mapping[str, Any]) -> str | None:
            code = address.get("postal_code")
            return normalize_digits(code) if code else None

        return PartnerData(
            crm_id=crm_id,
            name=data["name"],
            is_company=data["type"] == "organization",
            vat=normalize_digits(vat) if vat else None,
            street=first.get("line1"),
            street2=first.get("line2"),
            city=first.get("city"),
            zip=zip_code(first),
            country_code=first.get("country"),
            phone=landlines[0] if landlines else None,
            mobile=mobiles[0] if mobiles else None,
            email=(data.get("emails") or [None])[0],
            addresses=tuple(
                AddressData(
                    key=str(index),
                    kind="other",
                    street=address.get("line1"),
                    street2=address.get("line2"),
                    city=address.get("city"),
                    zip=zip_code(address),
                    country_code=address.get("country"),
                )
                for index, address in enumerate(addresses[1:], start=2)
            ),
        )

    def push_customer(self, document: OutboundDocument) -> PushResult:
        """Create or update the customer's partner, found by ``ref``."""
        result = self.odoo.partners.upsert_partner(self.partner(document.id, document.payload))
        return PushResult(external_id=str(result.partner_id))

    def push_product(self, document: OutboundDocument) -> PushResult:
        """Create or update the product, found by its SKU; invoiced on ordered quantities."""
        data = document.payload
        result = self.odoo.products.upsert_product(
            ProductData(
                sku=data["sku"],
                name=data["name"],
                kind="goods" if data.get("stock_tracked") else "consumable",
                list_price=Decimal(data.get("price") or 0),
                invoice_policy="order",
                uom_id=self._uom(data.get("unit")),
            )
        )
        return PushResult(external_id=str(result.product_id))

    def _uom(self, unit: str | None) -> int | None:
        """The uom.uom id of a CRM unit from ``odoo_units``; a unit not mapped there is refused."""
        units = self.settings.odoo_units
        if not units or unit is None:
            return None
        if unit not in units:
            raise MappingError(
                f"the unit {unit!r} has no Odoo unit of measure; add it to odoo_units"
            )
        return units[unit]

    def push_proforma(self, document: OutboundDocument, dependencies: Dependencies) -> PushResult:
        """Make the pro-forma's quotation; once approved, confirm it and post its invoice.

        A withdrawn pro-forma never comes here (see :meth:`withdraw`).
        """
        data = document.payload
        status = data["status"]
        if dependencies.customer is None:
            raise MappingError(f"proforma {document.id}: its customer has no Odoo partner")
        currency = str(data.get("currency") or "IRR")
        pricelist = self.settings.odoo_pricelists.get(currency)
        if pricelist is None:
            raise MappingError(
                f"proforma {document.id}: no Odoo pricelist for currency {currency!r}; add one "
                "to odoo_pricelists (currency code -> product.pricelist id)"
            )
        extra: dict[str, Any] = {"pricelist_id": pricelist}
        if data.get("valid_until"):
            extra["validity_date"] = data["valid_until"]
        rates = self.settings.tax_rates()
        lines = []
        for line in data["lines"]:
            product = dependencies.products.get(str(line["product_id"]))
            if product is None:
                raise MappingError(
                    f"proforma {document.id}: product {line['product_id']} has no Odoo id"
                )
            tax = line_tax(
                Decimal(line["net"]),
                Decimal(line["tax"]),
                rates,
                where=f"proforma {document.id}, product {line['product_id']}",
            )
            lines.append(
                QuotationLine(
                    product_id=int(product),
                    quantity=Decimal(line["quantity"]),
                    price_unit=Decimal(line["unit_price"]),
                    discount_amount=Decimal(line["discount"]),
                    tax_ids=(int(tax),) if tax is not None else (),
                    description=line.get("description") or None,
                )
            )
        quotation = self.odoo.sales.upsert_quotation(
            QuotationData(
                crm_id=document.id,
                partner_id=int(dependencies.customer),
                lines=tuple(lines),
                expected_total=Decimal(data["total"]),
                discount_product_id=self.settings.discount_product_id,
                extra=extra,
            )
        )
        if status == "approved":
            self.odoo.sales.confirm_order(quotation.order_id)
            self.odoo.invoices.create_invoice(quotation.order_id, post=True)
        note = totals_note(quotation.amount_total, quotation.expected_total, erp=self.label)
        return PushResult(external_id=str(quotation.order_id), note=note)

    def withdraw(self, document: OutboundDocument) -> PushResult:
        """Cancel the quotation of a pro-forma the CRM gave up on, while it is one.

        A confirmed order is left to Odoo's staff, and the binding says so.
        """
        status = document.payload["status"]
        found = self.odoo.sales.cancel_quotation(document.id)
        if found is None:
            return PushResult(
                external_id=document.external_id, note=f"{status}: nothing sent to Odoo"
            )
        order_id, state = found
        if state == "cancel":
            return PushResult(external_id=str(order_id), note=f"{status}: quotation cancelled")
        return PushResult(
            external_id=str(order_id),
            note=f"{status} in the CRM, but Odoo's order is {state}: cancel it there",
        )

    # -- inbound ------------------------------------------------------------------------

    def poll(self, cursor: str | None) -> PollResult:
        """Customer invoices changed since ``cursor``, as invoice-status events of pro-formas."""
        changes = self.odoo.invoices.poll_invoices(PollCursor.from_json(cursor), limit=POLL_LIMIT)
        invoices = [
            invoice
            for invoice in changes.items
            if invoice.move_type == "out_invoice" and invoice.origin
        ]
        references = self.odoo.sales.references(str(invoice.origin) for invoice in invoices)
        events = []
        for invoice in invoices:
            proforma_id = references.get(str(invoice.origin))
            if proforma_id is None:
                continue
            payload = invoice_status_payload(
                proforma_id=proforma_id,
                invoice_number=invoice.number,
                invoice_state=invoice_state(invoice),
                payment_state=payment_state(invoice),
                amount_paid=invoice.amount_total - invoice.amount_residual,
                invoice_total=invoice.amount_total,
                occurred_at=invoice.write_date,
            )
            key = "-".join(
                str(part)
                for part in (
                    invoice.invoice_id,
                    invoice.number,
                    invoice.state,
                    invoice.payment_state,
                    invoice.amount_residual,
                )
            )
            events.append(
                InboundEvent(
                    event_id=f"odoo-invoice-{key}-{changes.cursor.write_date}",
                    type=INVOICE_STATUS,
                    payload=payload,
                    occurred_at=invoice.write_date,
                )
            )
        return PollResult(events=events, cursor=changes.cursor.to_json(), more=changes.has_more)

    def health(self) -> HealthReport:
        """Authenticate: proves the server answers and the API key works."""
        try:
            self.client.check_login()
            missing = rights_detail(self.client, FINANCE)
        except Exception as error:
            return HealthReport(ok=False, detail=f"Odoo: {error}")
        if missing is not None:
            return HealthReport(ok=False, detail=missing)
        return HealthReport(ok=True, detail=f"Odoo database {self.client.database} answers")

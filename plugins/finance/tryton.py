"""The ``tryton`` backend: parties, products, sales and invoices over Tryton's JSON-RPC.

Outbound it runs the :mod:`erp.tryton` operations, each of which looks the document up
by the CRM's id before creating it. Inbound it polls customer invoices changed since a
saved cursor (see :class:`erp.tryton.invoices.InvoiceCursor`) and reports each change of
number, state or payment as an ``invoice_status`` event for the sale's pro-forma (the
sale's ``reference`` is the pro-forma's CRM id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from core.connectors.http import classify_exception
from core.errors import MappingError, PermanentError
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
from erp.tryton import Tryton, TrytonClient
from erp.tryton.invoices import InvoiceCursor, fingerprint
from erp.tryton.partners import AddressInput, PartyInput, PartyResult
from erp.tryton.products import ProductInput, ProductResult
from erp.tryton.sales import QuotationInput, SaleLineInput
from plugins.finance.backends import Dependencies, FinanceBackend, totals_note
from plugins.finance.mapping import INVOICE_STATUS, invoice_status_payload, line_tax
from plugins.finance.settings import FinanceSettings

#: Most changed invoices one poll hands out (it says ``more`` when others wait).
POLL_LIMIT = 200
#: Decimal places of Tryton's sale line unit prices (its default ``price_digits``).
PRICE_PLACES = Decimal("0.0001")


def invoice_state(row: Mapping[str, Any]) -> InvoiceState:
    """Tryton's invoice state as the canonical one (a paid invoice is posted)."""
    state = row["state"]
    if state in ("posted", "paid"):
        return "posted"
    if state == "cancelled":
        return "cancelled"
    return "draft"


def payment(row: Mapping[str, Any]) -> tuple[PaymentState, Decimal]:
    """The canonical payment state of a Tryton invoice and the amount paid so far."""
    total = Decimal(row["total_amount"])
    if row["state"] == "paid":
        return "paid", total
    if row["state"] != "posted":
        return "not_paid", Decimal(0)
    to_pay = Decimal(row["amount_to_pay"])
    if to_pay <= 0:
        return "paid", total
    if to_pay < total:
        return "partly_paid", total - to_pay
    return "not_paid", Decimal(0)


def _mobile(e164: str) -> bool:
    return e164.startswith("+989")


class TrytonBackend(FinanceBackend):
    """Parties, products, sales and invoices in one Tryton database."""

    label = "Tryton"

    def __init__(self, context: PluginContext, settings: FinanceSettings) -> None:
        super().__init__(context, settings)
        assert settings.tryton is not None
        self.client = TrytonClient.from_settings(settings.tryton, context.http)
        self.erp = Tryton(
            self.client,
            account_category=settings.account_category,
            payment_term=settings.payment_term,
        )

    # -- outbound -----------------------------------------------------------------------

    def push(self, documents: list[OutboundDocument]) -> list[PushResult]:
        """Push a batch: customers and products in one Tryton call each, then pro-formas.

        Customers and products go first (a pro-forma of the same batch then finds them),
        each kind with one search, one ``create`` and one ``write``; should Tryton refuse
        the batch, its documents are sent one by one so that only the one it refuses
        fails. Pro-formas follow one by one, each after its dependencies.
        """
        results: dict[int, PushResult] = {}
        customers = [(i, d) for i, d in enumerate(documents) if d.type == "customer"]
        products = [(i, d) for i, d in enumerate(documents) if d.type == "product"]
        results.update(self._push_many(customers, self.party_of, self.erp.partners.ensure_parties))
        results.update(self._push_many(products, self.product, self.erp.products.ensure_products))
        for index, document in enumerate(documents):
            if index not in results:
                results[index] = super().push([document])[0]
        return [results[index] for index in range(len(documents))]

    @staticmethod
    def _push_many(
        documents: Sequence[tuple[int, OutboundDocument]],
        convert: Callable[[OutboundDocument], Any],
        ensure: Callable[[list[Any]], Sequence[PartyResult | ProductResult]],
    ) -> dict[int, PushResult]:
        results: dict[int, PushResult] = {}
        inputs: list[tuple[int, Any]] = []
        for index, document in documents:
            try:
                inputs.append((index, convert(document)))
            except Exception as error:
                results[index] = PushResult(error=classify_exception(error))
        if not inputs:
            return results
        try:
            made = ensure([value for _, value in inputs])
        except PermanentError as error:
            if len(inputs) == 1:
                results[inputs[0][0]] = PushResult(error=error)
                return results
            for index, value in inputs:
                try:
                    (one,) = ensure([value])
                    results[index] = PushResult(external_id=str(one.id))
                except Exception as error:
                    results[index] = PushResult(error=classify_exception(error))
            return results
        except Exception as error:
            failure = classify_exception(error)
            results.update((index, PushResult(error=failure)) for index, _ in inputs)
            return results
        for (index, _), result in zip(inputs, made, strict=True):
            results[index] = PushResult(external_id=str(result.id))
        return results

    def push_customer(self, document: OutboundDocument) -> PushResult:
        """Create or update the customer's party, found by its CRM identifier."""
        result = self.erp.partners.ensure_party(self.party_of(document))
        return PushResult(external_id=str(result.id))

    def party_of(self, document: OutboundDocument) -> PartyInput:
        """The customer document as a Tryton party."""
        return self.party(document.id, document.payload)

    @staticmethod
    def party(crm_id: str, data: Mapping[str, Any]) -> PartyInput:
        """A customer document as a Tryton party: ids in ASCII digits, phones in E.164."""
        phones = [normalize_phone(phone) for phone in data.get("phones") or []]
        addresses = tuple(
            AddressInput(
                street=", ".join(part for part in (a["line1"], a.get("line2")) if part),
                city=a.get("city") or "",
                postal_code=normalize_digits(a.get("postal_code") or ""),
            )
            for a in data.get("addresses") or []
        )
        national_id = data.get("national_id")
        economic_code = data.get("economic_code")
        return PartyInput(
            crm_id=crm_id,
            name=data["name"],
            national_id=normalize_digits(national_id) if national_id else None,
            economic_code=normalize_digits(economic_code) if economic_code else None,
            addresses=addresses,
            phones=tuple(p for p in phones if not _mobile(p)),
            mobiles=tuple(p for p in phones if _mobile(p)),
            emails=tuple(data.get("emails") or ()),
        )

    def push_product(self, document: OutboundDocument) -> PushResult:
        """Create or update the product, found by its SKU."""
        result = self.erp.products.ensure_product(self.product(document))
        return PushResult(external_id=str(result.id))

    def product(self, document: OutboundDocument) -> ProductInput:
        """The product document as a Tryton product, its unit mapped by the settings."""
        data = document.payload
        unit = data.get("unit")
        return ProductInput(
            sku=data["sku"],
            name=data["name"],
            list_price=Decimal(data.get("price") or 0),
            unit=self.settings.units.get(unit, unit) if unit else self.settings.default_unit,
        )

    def push_proforma(self, document: OutboundDocument, dependencies: Dependencies) -> PushResult:
        """Make the pro-forma's quotation; once approved, confirm it and post its invoice.

        A withdrawn pro-forma never comes here (see :meth:`withdraw`).
        """
        data = document.payload
        status = data["status"]
        if dependencies.customer is None:
            raise MappingError(f"proforma {document.id}: its customer has no Tryton party")
        lines = tuple(self._line(document.id, line, dependencies) for line in data["lines"])
        sale = self.erp.sales.create_quotation(
            QuotationInput(
                crm_ref=document.id,
                party_id=int(dependencies.customer),
                lines=lines,
                description=str(data["number"])[:100],
                currency=str(data.get("currency") or "IRR"),
            )
        )
        if status == "approved":
            sale = self.erp.sales.confirm_sale(sale.id)
            self.erp.invoices.post_invoices(sale.id, explicit_taxes=True)
        note = totals_note(sale.total_amount, Decimal(data["total"]), erp=self.label)
        return PushResult(external_id=str(sale.id), note=note)

    def _line(
        self, proforma_id: str, line: Mapping[str, Any], dependencies: Dependencies
    ) -> SaleLineInput:
        product = dependencies.products.get(str(line["product_id"]))
        if product is None:
            raise MappingError(f"proforma {proforma_id}: product {line['product_id']} has no id")
        quantity = Decimal(line["quantity"])
        unit_price = Decimal(line["unit_price"])
        discount = Decimal(line["discount"])
        net = Decimal(line["net"])
        tax = line_tax(
            net,
            Decimal(line["tax"]),
            self.settings.tax_rates(),
            where=f"proforma {proforma_id}, product {line['product_id']}",
        )
        charged = (net / quantity).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)
        return SaleLineInput(
            product_id=int(product),
            quantity=quantity,
            unit_price=charged if discount else unit_price,
            base_price=unit_price if discount else None,
            tax_ids=(self.erp.lookups.tax_id(tax),) if tax is not None else (),
            description=line.get("description") or None,
        )

    def withdraw(self, document: OutboundDocument) -> PushResult:
        """Cancel the quotation of a pro-forma the CRM gave up on, while it is one.

        One Tryton never had is not sent; a confirmed sale is left to the ERP's staff,
        and the binding says so.
        """
        proforma_id, status = document.id, document.payload["status"]
        found = self.erp.sales.cancel_quotation(proforma_id)
        if found is None:
            return PushResult(note=f"{status} in the CRM before Tryton had it: nothing was sent")
        sale_id, state = found
        if state in ("draft", "quotation"):
            return PushResult(external_id=str(sale_id), note=f"{status}: quotation cancelled")
        return PushResult(
            external_id=str(sale_id),
            note=f"{status} in the CRM, but Tryton's sale is {state}: cancel it there",
        )

    # -- inbound ------------------------------------------------------------------------

    def poll(self, cursor: str | None) -> PollResult:
        """Customer invoices changed since ``cursor``, as invoice-status events of pro-formas."""
        changed, following, more = self.erp.invoices.poll(
            InvoiceCursor.from_json(cursor), limit=POLL_LIMIT
        )
        references = self.erp.sales.references(sale for row in changed for sale in row["sales"])
        events = []
        for row in changed:
            if Decimal(row["total_amount"]) < 0:
                continue  # a credit note: returns are not this plugin's
            stamp: dt.datetime = row["last_modified_at"]
            state, paid = payment(row)
            for sale_id in row["sales"]:
                proforma_id = references.get(sale_id)
                if not proforma_id:
                    continue
                payload = invoice_status_payload(
                    proforma_id=proforma_id,
                    invoice_number=row["number"],
                    invoice_state=invoice_state(row),
                    payment_state=state,
                    amount_paid=paid,
                    invoice_total=Decimal(row["total_amount"]),
                    occurred_at=stamp.replace(tzinfo=dt.UTC),
                )
                events.append(
                    InboundEvent(
                        event_id=f"tryton-invoice-{row['id']}-{stamp.isoformat()}-"
                        f"{fingerprint(row)[:16]}-{sale_id}",
                        type=INVOICE_STATUS,
                        payload=payload,
                        occurred_at=stamp.replace(tzinfo=dt.UTC),
                    )
                )
        return PollResult(events=events, cursor=following.to_json(), more=more)

    def health(self) -> HealthReport:
        """Log in: proves the server answers and the credentials work."""
        try:
            self.client.login()
        except Exception as error:
            return HealthReport(ok=False, detail=f"Tryton: {error}")
        return HealthReport(ok=True, detail=f"Tryton database {self.client.database} answers")

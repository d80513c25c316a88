"""The ``tryton`` backend: parties, products, sales and invoices over Tryton's JSON-RPC.

Outbound it runs the shared :class:`~core.connectors.tryton_erp.TrytonERP` operations,
each of which looks the document up by the CRM's id before creating it. Inbound it polls
customer invoices changed since a saved cursor (see :class:`InvoiceCursor`) and reports
each change of number, state or payment as an ``invoice_status`` event for the sale's
pro-forma (the sale's ``reference`` is the pro-forma's CRM id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from core.connectors.http import classify_exception
from core.connectors.tryton import TrytonClient
from core.connectors.tryton_erp import (
    AddressInput,
    PartyInput,
    PartyResult,
    ProductInput,
    ProductResult,
    QuotationInput,
    SaleLineInput,
    TrytonERP,
)
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
from plugins.finance.backends import Dependencies, FinanceBackend, totals_note
from plugins.finance.mapping import INVOICE_STATUS, invoice_status_payload, line_tax
from plugins.finance.settings import FinanceSettings

#: Seconds before the cursor that every poll reads again: a transaction that started
#: earlier but committed after the last poll stamps its rows with its start time.
OVERLAP_SECONDS = 60
#: Most changed invoices one poll hands out (it says ``more`` when others wait).
POLL_LIMIT = 200
#: Decimal places of Tryton's sale line unit prices (its default ``price_digits``).
PRICE_PLACES = Decimal("0.0001")

_INVOICE_FIELDS = ["number", "state", "total_amount", "amount_to_pay", "sales", "last_modified_at"]
_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class InvoiceCursor:
    """Where the last poll of Tryton's invoices stopped.

    ``since`` is the newest ``last_modified_at`` handed out. ``seen`` maps every invoice
    handed out whose stamp lies within the overlap window before ``since`` to ``(stamp,
    fingerprint)``: an invoice read again with the same stamp and values is skipped, so
    invoices sharing one timestamp (one transaction writes them all) are each handed out
    once even when a poll's limit cuts between them, and a late commit is still seen.
    """

    since: dt.datetime = _EPOCH
    seen: Mapping[int, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The cursor as the JSON text core stores between polls."""
        return json.dumps(
            {
                "since": self.since.isoformat(),
                "seen": {str(key): list(value) for key, value in sorted(self.seen.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> InvoiceCursor:
        """Read a stored cursor; None starts from the beginning."""
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            since=dt.datetime.fromisoformat(data["since"]),
            seen={int(key): (str(value[0]), str(value[1])) for key, value in data["seen"].items()},
        )


def _fingerprint(row: Mapping[str, Any]) -> str:
    text = json.dumps(
        {key: row.get(key) for key in sorted(row) if key != "last_modified_at"},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def changed_rows(
    rows: Sequence[Mapping[str, Any]], cursor: InvoiceCursor, *, query_limit: int
) -> tuple[list[Mapping[str, Any]], InvoiceCursor, bool]:
    """Split a poll's rows (oldest first) into changes not handed out yet and the next cursor.

    Returns the changed rows, the cursor to save after applying them, and whether the
    query was full (more may wait).
    """
    seen: dict[int, tuple[str, str]] = dict(cursor.seen)
    newest = cursor.since
    changed = []
    for row in rows:
        stamp_time: dt.datetime = row["last_modified_at"]
        stamp = (stamp_time.isoformat(), _fingerprint(row))
        if seen.get(int(row["id"])) != stamp:
            changed.append(row)
        seen[int(row["id"])] = stamp
        newest = max(newest, stamp_time)
    keep_from = (newest - dt.timedelta(seconds=OVERLAP_SECONDS)).isoformat()
    kept = {key: value for key, value in seen.items() if value[0] >= keep_from}
    return changed, InvoiceCursor(since=newest, seen=kept), len(rows) >= query_limit


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


def tax_warning_key(invoice_id: int) -> str:
    """The name of Tryton's "default taxes" warning for one invoice (``Warning.format``)."""
    digest = hashlib.md5(f"account.invoice,{invoice_id}".encode(), usedforsecurity=False)
    return f"{digest.hexdigest()}.invoice_taxes"


def _mobile(e164: str) -> bool:
    return e164.startswith("+989")


class TrytonBackend(FinanceBackend):
    """Parties, products, sales and invoices in one Tryton database."""

    label = "Tryton"

    def __init__(self, context: PluginContext, settings: FinanceSettings) -> None:
        super().__init__(context, settings)
        assert settings.tryton is not None
        self.client = TrytonClient.from_settings(settings.tryton, context.http)
        self.erp = TrytonERP(
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
        results.update(self._push_many(customers, self.party_of, self.erp.ensure_parties))
        results.update(self._push_many(products, self.product, self.erp.ensure_products))
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
        result = self.erp.ensure_party(self.party_of(document))
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
        result = self.erp.ensure_product(self.product(document))
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
        sale = self.erp.create_quotation(
            QuotationInput(
                crm_ref=document.id,
                party_id=int(dependencies.customer),
                lines=lines,
                description=str(data["number"])[:100],
            )
        )
        if status == "approved":
            sale = self.erp.confirm_sale(sale.id)
            self._post_invoices(sale.id)
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
            tax_ids=(self.erp.tax_id(tax),) if tax is not None else (),
            description=line.get("description") or None,
        )

    def _post_invoices(self, sale_id: int) -> None:
        """Post (number) the sale's draft invoices; posted ones are left alone.

        The CRM states every line's taxes explicitly, and a line without tax is meant
        to have none even when the product's category has default taxes. Tryton asks
        the user to confirm exactly that ("does not have the default taxes") with a user
        warning; the CRM's explicit taxes are that confirmation, so the warning of these
        invoices is skipped once (``res.user.warning.skip``, what Tryton's own client
        does when the user clicks "yes") and no other warning is.
        """
        drafts = [i.id for i in self.erp.invoices(sale_id) if i.state in ("draft", "validated")]
        for invoice_id in drafts:
            self.client.execute("res.user.warning", "skip", tax_warning_key(invoice_id), False)
        if drafts:
            self.client.button("account.invoice", "post", drafts)

    def withdraw(self, document: OutboundDocument) -> PushResult:
        """Cancel the quotation of a pro-forma the CRM gave up on, while it is one.

        One Tryton never had is not sent; a confirmed sale is left to the ERP's staff,
        and the binding says so.
        """
        proforma_id, status = document.id, document.payload["status"]
        sale_id = self.erp.find_sale(proforma_id)
        if sale_id is None:
            return PushResult(note=f"{status} in the CRM before Tryton had it: nothing was sent")
        sale = self.erp.sale(sale_id)
        if sale.state in ("draft", "quotation"):
            self.client.button("sale.sale", "cancel", [sale_id])
            return PushResult(external_id=str(sale_id), note=f"{status}: quotation cancelled")
        return PushResult(
            external_id=str(sale_id),
            note=f"{status} in the CRM, but Tryton's sale is {sale.state}: cancel it there",
        )

    # -- inbound ------------------------------------------------------------------------

    def poll(self, cursor: str | None) -> PollResult:
        """Customer invoices changed since ``cursor``, as invoice-status events of pro-formas."""
        current = InvoiceCursor.from_json(cursor)
        window = current.since - dt.timedelta(seconds=OVERLAP_SECONDS)
        query_limit = POLL_LIMIT + len(current.seen)
        rows = self.client.search_read(
            "account.invoice",
            [("type", "=", "out"), ("last_modified_at", ">=", window)],
            _INVOICE_FIELDS,
            order=[("last_modified_at", "ASC"), ("id", "ASC")],
            limit=query_limit,
        )
        changed, following, more = changed_rows(rows, current, query_limit=query_limit)
        references = self._references({sale for row in changed for sale in row["sales"]})
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
                        f"{_fingerprint(row)[:16]}-{sale_id}",
                        type=INVOICE_STATUS,
                        payload=payload,
                        occurred_at=stamp.replace(tzinfo=dt.UTC),
                    )
                )
        return PollResult(events=events, cursor=following.to_json(), more=more)

    def _references(self, sale_ids: set[int]) -> dict[int, str]:
        rows = self.client.read("sale.sale", sorted(sale_ids), ["reference"])
        return {row["id"]: row["reference"] for row in rows if row["reference"]}

    def health(self) -> HealthReport:
        """Log in: proves the server answers and the credentials work."""
        try:
            self.client.login()
        except Exception as error:
            return HealthReport(ok=False, detail=f"Tryton: {error}")
        return HealthReport(ok=True, detail=f"Tryton database {self.client.database} answers")

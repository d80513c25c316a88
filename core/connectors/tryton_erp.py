"""The ERP operations the finance, inventory and production plugins run against Tryton.

Every operation that creates something looks it up by the CRM's id first (a party by
an identifier holding the CRM id, a product by its SKU, a sale or return by its
``reference``), so running it again after a crash between "Tryton created it" and "we
recorded the external id" finds the first record instead of creating a second one.
Results are small frozen dataclasses carrying Tryton's ids, states and exact Decimal
amounts, so a caller can compare totals with the CRM's to the Rial.

How Tryton represents what the CRM sends:

- Discount: the ``sale_discount`` module stores ``base_price`` (the undiscounted unit
  price) on the sale line next to ``unit_price`` (the price actually charged); the
  discount rate and amount are computed from the two. Without that module only
  ``unit_price`` exists, so the discount survives only in the price itself.
- Taxes: each line carries its taxes explicitly (``taxes``: a many-to-many to
  ``account.tax``); Tryton computes the tax amounts from the tax rates and rounds them
  with the currency, so callers compare ``tax_amount``/``total_amount`` with their own.
- Line amounts are ``quantity * unit_price`` rounded by the currency (whole Rials in IRR).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from core.connectors.tryton import TrytonClient
from core.errors import MappingError

__all__ = [
    "AddressInput",
    "DeliveryStatus",
    "InvoiceStatus",
    "LineReservation",
    "PartyInput",
    "PartyResult",
    "ProductInput",
    "ProductResult",
    "ProductionStatus",
    "QuotationInput",
    "ReservationStatus",
    "ReturnInput",
    "ReturnLineInput",
    "ReturnStatus",
    "SaleLineInput",
    "SaleLineResult",
    "SaleResult",
    "ShipmentState",
    "TrytonERP",
]

PaymentState = Literal["not posted", "unpaid", "partly paid", "paid", "cancelled"]
ReservationState = Literal[
    "reserved", "partly reserved", "unavailable", "awaiting supply", "shipped", "cancelled"
]

_CONTACT_TYPES = ("phone", "mobile", "email")
_INACTIVE_TOO = {"active_test": False}
_PARTY_FIELDS = ["name", "code", "active", "identifiers", "addresses", "contact_mechanisms"]
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
_INVOICE_FIELDS = [
    "number",
    "state",
    "invoice_date",
    "untaxed_amount",
    "tax_amount",
    "total_amount",
    "amount_to_pay",
    "reconciled",
]
_PRODUCTION_FIELDS = [
    "number",
    "state",
    "product",
    "quantity",
    "origin",
    "planned_start_date",
    "planned_date",
    "effective_start_date",
    "effective_date",
]


# -- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressInput:
    """One postal address of a customer, matched on (street, city, postal code)."""

    street: str
    city: str = ""
    postal_code: str = ""
    name: str | None = None


@dataclass(frozen=True)
class PartyInput:
    """A CRM customer as Tryton should hold it.

    Tryton 8.2 has no Iranian identifier types, so the national ID and economic code are
    kept as identifiers without a type; the CRM id is an identifier ``<prefix><crm_id>``.
    On update the CRM is the master of the party's name, untyped identifiers, phones,
    mobiles, emails and addresses: missing ones are added and the others deactivated
    (never deleted, so sales and invoices that use them stay intact).
    """

    crm_id: str
    name: str
    national_id: str | None = None
    economic_code: str | None = None
    addresses: tuple[AddressInput, ...] = ()
    phones: tuple[str, ...] = ()
    mobiles: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProductInput:
    """A salable stock product as Tryton should hold it, found again by ``sku``.

    ``unit`` is a unit of measure's symbol or name (``u`` is Tryton's "Unit");
    ``account_category`` names the product category that carries the revenue account
    and customer taxes (the ERP's default when None). ``producible`` with
    ``supply_on_sale`` makes a confirmed sale request a production (needs a BOM).
    """

    sku: str
    name: str
    list_price: Decimal
    unit: str = "u"
    account_category: str | None = None
    producible: bool = False
    supply_on_sale: bool = False


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
    """

    crm_ref: str
    party_id: int
    lines: tuple[SaleLineInput, ...]
    invoice_address_id: int | None = None
    shipment_address_id: int | None = None
    payment_term_id: int | None = None
    description: str | None = None


@dataclass(frozen=True)
class ReturnLineInput:
    """One returned product: a positive ``quantity`` at the price it was sold at."""

    product_id: int
    quantity: Decimal
    unit_price: Decimal
    tax_ids: tuple[int, ...] = ()
    unit_id: int | None = None


@dataclass(frozen=True)
class ReturnInput:
    """A CRM return request (RMA), found again by ``crm_ref``; ``reason`` is kept on the sale."""

    crm_ref: str
    party_id: int
    lines: tuple[ReturnLineInput, ...]
    reason: str = ""
    invoice_address_id: int | None = None
    shipment_address_id: int | None = None
    payment_term_id: int | None = None


# -- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyResult:
    """The Tryton party of a CRM customer; ``created``/``updated`` say what this call did."""

    id: int
    code: str
    created: bool
    updated: bool
    address_ids: tuple[int, ...]


@dataclass(frozen=True)
class ProductResult:
    """The Tryton variant (``id``) and template of a SKU; ``created``/``updated`` as above."""

    id: int
    template_id: int
    created: bool
    updated: bool


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


@dataclass(frozen=True)
class InvoiceStatus:
    """A customer invoice or credit note (negative total) and how much of it is paid."""

    id: int
    number: str | None
    state: str
    invoice_date: date | None
    untaxed_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    amount_to_pay: Decimal
    payment_state: PaymentState

    @property
    def amount_paid(self) -> Decimal:
        """What has been paid (or refunded, for a credit note) so far."""
        if self.state == "paid":
            return self.total_amount
        if self.state != "posted":
            return Decimal(0)
        return self.total_amount - self._signed_to_pay

    @property
    def _signed_to_pay(self) -> Decimal:
        return -self.amount_to_pay if self.total_amount < 0 else self.amount_to_pay


@dataclass(frozen=True)
class LineReservation:
    """How much of one sale line is reserved in the warehouse.

    ``state`` is ``reserved`` (all), ``partly reserved``, ``unavailable`` (none),
    ``awaiting supply`` (the goods come from a production or purchase first),
    ``shipped`` or ``cancelled``.
    """

    sale_line_id: int
    product_id: int | None
    quantity: Decimal
    reserved_quantity: Decimal
    state: ReservationState


@dataclass(frozen=True)
class ReservationStatus:
    """The reservation of a sale's goods, per line, with the overall state."""

    sale_id: int
    lines: tuple[LineReservation, ...]

    @property
    def state(self) -> ReservationState:
        """Sum up the lines: ``reserved`` when all are, ``unavailable`` when none is, and so on."""
        states = {line.state for line in self.lines if line.state != "cancelled"}
        if not states:
            return "cancelled"
        if states <= {"reserved", "shipped"}:
            return "shipped" if states == {"shipped"} else "reserved"
        if states <= {"unavailable", "awaiting supply"}:
            return "awaiting supply" if states == {"awaiting supply"} else "unavailable"
        return "partly reserved"


@dataclass(frozen=True)
class ShipmentState:
    """One customer shipment or return shipment and where it stands."""

    id: int
    number: str | None
    state: str
    planned_date: date | None
    effective_date: date | None


@dataclass(frozen=True)
class DeliveryStatus:
    """The sale's deliveries: Tryton's ``shipment_state`` and each shipment's state.

    ``delivered`` is true when every shipment that was not cancelled is ``done``.
    """

    sale_id: int
    shipment_state: str
    shipments: tuple[ShipmentState, ...]

    @property
    def delivered(self) -> bool:
        """True when there is a shipment and all of the live ones are done."""
        live = [s for s in self.shipments if s.state != "cancelled"]
        return bool(live) and all(s.state == "done" for s in live)


@dataclass(frozen=True)
class ReturnStatus:
    """A return: its sale, return shipments and credit notes.

    ``received`` when every return shipment has at least been received, ``refunded``
    when every credit note is paid.
    """

    sale: SaleResult
    shipments: tuple[ShipmentState, ...]
    credit_notes: tuple[InvoiceStatus, ...]

    @property
    def received(self) -> bool:
        """True when all the return shipments are received or done."""
        live = [s for s in self.shipments if s.state != "cancelled"]
        return bool(live) and all(s.state in ("received", "done") for s in live)

    @property
    def refunded(self) -> bool:
        """True when every credit note of the return is paid."""
        return bool(self.credit_notes) and all(
            note.payment_state == "paid" for note in self.credit_notes
        )


@dataclass(frozen=True)
class ProductionStatus:
    """A production order made for a sale line, with its dates.

    ``eta`` is when the goods are (or are expected to be) finished: the effective date
    once done, else the planned date.
    """

    id: int
    number: str | None
    state: str
    product_id: int | None
    quantity: Decimal
    sale_line_id: int | None
    planned_start_date: date | None
    planned_date: date | None
    effective_start_date: date | None
    effective_date: date | None

    @property
    def eta(self) -> date | None:
        """The date the production finished, or the date it is planned to."""
        return self.effective_date or self.planned_date


# -- helpers --------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else _decimal(value)


def _origin_id(origin: Any, model: str) -> int | None:
    if isinstance(origin, str) and origin.startswith(model + ","):
        return int(origin.split(",", 1)[1])
    return None


def _payment_state(row: Mapping[str, Any]) -> PaymentState:
    state = row["state"]
    if state == "paid":
        return "paid"
    if state == "cancelled":
        return "cancelled"
    if state != "posted":
        return "not posted"
    to_pay = abs(_decimal(row["amount_to_pay"]))
    total = abs(_decimal(row["total_amount"]))
    if to_pay == 0:
        return "paid"
    return "partly paid" if to_pay < total else "unpaid"


@dataclass
class _Lookups:
    """Ids the operations resolve by name once and reuse."""

    units: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    taxes: dict[str, int] = field(default_factory=dict)
    payment_terms: dict[str, int] = field(default_factory=dict)
    has_base_price: bool | None = None
    has_production: bool | None = None


class TrytonERP:
    """The plugins' operations on one Tryton database, on top of a :class:`TrytonClient`.

    ``account_category`` and ``payment_term`` name the defaults used when an input
    does not say (a product category with accounting, a payment term); ``crm_prefix``
    starts the party identifier that holds the CRM id.
    """

    def __init__(
        self,
        client: TrytonClient,
        *,
        account_category: str | None = None,
        payment_term: str | None = None,
        crm_prefix: str = "CRM:",
    ) -> None:
        self.client = client
        self._account_category = account_category
        self._payment_term = payment_term
        self._crm_prefix = crm_prefix
        self._lookups = _Lookups()

    # -- lookups by name --------------------------------------------------------------

    def _lookup(self, cache: dict[str, int], model: str, domain: list[Any], key: str) -> int:
        if key not in cache:
            found = self.client.search(model, domain, limit=2)
            if len(found) != 1:
                what = "no" if not found else "more than one"
                raise MappingError(f"Tryton has {what} {model} matching {key!r}")
            cache[key] = found[0]
        return cache[key]

    def unit_id(self, unit: str) -> int:
        """Return the id of the unit of measure whose symbol (or else name) is ``unit``."""
        if unit not in self._lookups.units:
            found = self.client.search("product.uom", [("symbol", "=", unit)], limit=2)
            if len(found) != 1:
                found = self.client.search("product.uom", [("name", "=", unit)], limit=2)
            if len(found) != 1:
                raise MappingError(f"Tryton has no single unit of measure {unit!r}")
            self._lookups.units[unit] = found[0]
        return self._lookups.units[unit]

    def tax_id(self, name: str) -> int:
        """Return the id of the active tax named ``name`` (as the ERP's accountant named it)."""
        return self._lookup(self._lookups.taxes, "account.tax", [("name", "=", name)], name)

    def account_category_id(self, name: str) -> int:
        """Return the id of the accounting product category named ``name``."""
        domain = [("name", "=", name), ("accounting", "=", True)]
        return self._lookup(self._lookups.categories, "product.category", domain, name)

    def payment_term_id(self, name: str) -> int:
        """Return the id of the payment term named ``name``."""
        domain = [("name", "=", name)]
        model = "account.invoice.payment_term"
        return self._lookup(self._lookups.payment_terms, model, domain, name)

    def _supports_production(self) -> bool:
        if self._lookups.has_production is None:
            described = self.client.execute(
                "product.template", "fields_get", ["producible", "supply_on_sale"]
            )
            self._lookups.has_production = {"producible", "supply_on_sale"} <= set(described)
        return self._lookups.has_production

    def _supports_base_price(self) -> bool:
        if self._lookups.has_base_price is None:
            described = self.client.execute("sale.line", "fields_get", ["base_price"])
            self._lookups.has_base_price = "base_price" in described
        return self._lookups.has_base_price

    # -- parties ----------------------------------------------------------------------

    def crm_identifier(self, crm_id: str) -> str:
        """Return the party identifier code that holds ``crm_id``."""
        return f"{self._crm_prefix}{crm_id}"

    def find_party(self, crm_id: str) -> int | None:
        """Return the id of the party (active or not) that carries ``crm_id``, if any."""
        return self.find_parties([crm_id]).get(crm_id)

    def find_parties(self, crm_ids: Sequence[str]) -> dict[str, int]:
        """Map each of ``crm_ids`` a party (active or not) carries to that party, in one search.

        Should two parties carry one CRM id, the oldest is the one.
        """
        by_code = {self.crm_identifier(crm_id): crm_id for crm_id in crm_ids}
        if not by_code:
            return {}
        rows = self.client.search_read(
            "party.identifier",
            [("code", "in", list(by_code))],
            ["code", "party"],
            context=_INACTIVE_TOO,
        )
        found: dict[str, int] = {}
        for row in rows:
            crm_id = by_code.get(row["code"])
            if crm_id is not None and row["party"] is not None:
                party_id = int(row["party"])
                found[crm_id] = min(found.get(crm_id, party_id), party_id)
        return found

    def ensure_party(self, party: PartyInput) -> PartyResult:
        """Create the customer's party, or bring the existing one in line with ``party``."""
        (result,) = self.ensure_parties([party])
        return result

    def ensure_parties(self, parties: Sequence[PartyInput]) -> list[PartyResult]:
        """:meth:`ensure_party` for many customers at once; one result per input, in order.

        All of them are looked up in one search, the missing ones created in one
        ``create`` and the changed ones updated in one ``write``. A CRM id given twice is
        handled as two calls one after the other would: created (or updated) by the
        first, brought in line with the second by the next round.
        """
        first: dict[str, int] = {}
        later: list[int] = []
        for index, party in enumerate(parties):
            if party.crm_id in first:
                later.append(index)
            else:
                first[party.crm_id] = index
        results: dict[int, PartyResult] = {}
        batch = [parties[index] for index in first.values()]
        if batch:
            existing = self.find_parties([party.crm_id for party in batch])
            missing = [party for party in batch if party.crm_id not in existing]
            created = self.client.create(
                "party.party", [self._new_party_values(party) for party in missing]
            )
            party_ids = {
                party.crm_id: party_id for party, party_id in zip(missing, created, strict=True)
            }
            changes = self._parties_changes(
                [(existing[party.crm_id], party) for party in batch if party.crm_id in existing]
            )
            writes: list[Any] = []
            for party_id, values in changes.items():
                if values:
                    writes += [[party_id], values]
            if writes:
                self.client.execute("party.party", "write", *writes)
            party_ids.update(existing)
            made = self._party_results(
                [party_ids[party.crm_id] for party in batch],
                created=set(created),
                updated={party_id for party_id, values in changes.items() if values},
            )
            for index, result in zip(first.values(), made, strict=True):
                results[index] = result
        if later:
            again = self.ensure_parties([parties[index] for index in later])
            results.update(zip(later, again, strict=True))
        return [results[index] for index in range(len(parties))]

    def _wanted_identifiers(self, party: PartyInput) -> list[str]:
        codes = [self.crm_identifier(party.crm_id)]
        codes += [code for code in (party.national_id, party.economic_code) if code]
        return list(dict.fromkeys(codes))

    @staticmethod
    def _wanted_contacts(party: PartyInput) -> list[tuple[str, str]]:
        contacts = [("phone", value) for value in party.phones]
        contacts += [("mobile", value) for value in party.mobiles]
        contacts += [("email", value) for value in party.emails]
        return list(dict.fromkeys(contacts))

    @staticmethod
    def _address_values(address: AddressInput) -> dict[str, Any]:
        return {
            "street": address.street,
            "city": address.city or None,
            "postal_code": address.postal_code or None,
            "party_name": address.name,
        }

    def _new_party_values(self, party: PartyInput) -> dict[str, Any]:
        values: dict[str, Any] = {
            "name": party.name,
            "identifiers": [
                ("create", [{"code": code} for code in self._wanted_identifiers(party)])
            ],
        }
        if party.addresses:
            addresses = [self._address_values(a) for a in dict.fromkeys(party.addresses)]
            values["addresses"] = [("create", addresses)]
        contacts = self._wanted_contacts(party)
        if contacts:
            values["contact_mechanisms"] = [
                ("create", [{"type": kind, "value": value} for kind, value in contacts])
            ]
        return values

    def _parties_changes(
        self, parties: Sequence[tuple[int, PartyInput]]
    ) -> dict[int, dict[str, Any]]:
        """What to write on each existing party to match its input, read in four calls."""
        if not parties:
            return {}
        client = self.client
        ids = [party_id for party_id, _ in parties]
        current = {
            row["id"]: row
            for row in client.read("party.party", ids, ["name", "active"], context=_INACTIVE_TOO)
        }
        identifiers = _by_party(
            client.search_read(
                "party.identifier",
                [("party", "in", ids), ("type", "=", None)],
                ["party", "code", "active"],
                order=[("id", "ASC")],
                context=_INACTIVE_TOO,
            )
        )
        contacts = _by_party(
            client.search_read(
                "party.contact_mechanism",
                [("party", "in", ids), ("type", "in", list(_CONTACT_TYPES))],
                ["party", "type", "value", "value_compact", "active"],
                order=[("id", "ASC")],
                context=_INACTIVE_TOO,
            )
        )
        addresses = _by_party(
            client.search_read(
                "party.address",
                [("party", "in", ids)],
                ["party", "street", "city", "postal_code", "party_name", "active"],
                order=[("id", "ASC")],
                context=_INACTIVE_TOO,
            )
        )
        return {
            party_id: self._party_changes(
                current[party_id],
                party,
                identifiers=identifiers.get(party_id, []),
                contacts=contacts.get(party_id, []),
                addresses=addresses.get(party_id, []),
            )
            for party_id, party in parties
        }

    def _party_changes(
        self,
        current: Mapping[str, Any],
        party: PartyInput,
        *,
        identifiers: Sequence[Mapping[str, Any]],
        contacts: Sequence[Mapping[str, Any]],
        addresses: Sequence[Mapping[str, Any]],
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if current["name"] != party.name:
            changes["name"] = party.name
        if not current["active"]:
            changes["active"] = True

        actions = _sync_rows(
            identifiers,
            wanted=self._wanted_identifiers(party),
            key=lambda row: row["code"],
            values=lambda code: {"code": code},
        )
        if actions:
            changes["identifiers"] = actions

        # With the phonenumbers library installed Tryton reformats phone numbers for
        # display; its compact form is E.164, which is what the CRM sends.
        actions = _sync_rows(
            contacts,
            wanted=self._wanted_contacts(party),
            key=lambda row: (row["type"], row["value_compact"] or row["value"]),
            values=lambda contact: {"type": contact[0], "value": contact[1]},
        )
        if actions:
            changes["contact_mechanisms"] = actions

        actions = _sync_rows(
            addresses,
            wanted=list(dict.fromkeys(party.addresses)),
            key=lambda row: AddressInput(
                street=row["street"] or "",
                city=row["city"] or "",
                postal_code=row["postal_code"] or "",
                name=row["party_name"],
            ),
            values=self._address_values,
        )
        if actions:
            changes["addresses"] = actions
        return changes

    def _party_results(
        self, party_ids: Sequence[int], *, created: set[int], updated: set[int]
    ) -> list[PartyResult]:
        rows = self.client.read("party.party", list(party_ids), ["code"], context=_INACTIVE_TOO)
        codes = {row["id"]: row["code"] for row in rows}
        addresses: dict[int, list[int]] = {}
        for row in self.client.search_read(
            "party.address",
            [("party", "in", list(party_ids))],
            ["party"],
            order=[("sequence", "ASC"), ("id", "ASC")],
        ):
            addresses.setdefault(int(row["party"]), []).append(int(row["id"]))
        return [
            PartyResult(
                id=party_id,
                code=codes.get(party_id) or "",
                created=party_id in created,
                updated=party_id in updated,
                address_ids=tuple(addresses.get(party_id, ())),
            )
            for party_id in party_ids
        ]

    # -- products ---------------------------------------------------------------------

    def find_product(self, sku: str) -> int | None:
        """Return the id of the variant (active or not) whose code is ``sku``, if any."""
        found = self._find_products([sku]).get(sku)
        return found[0] if found else None

    def _find_products(self, skus: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Map each SKU a variant (active or not) has to (variant, template), in one search."""
        if not skus:
            return {}
        rows = self.client.search_read(
            "product.product",
            [("code", "in", list(dict.fromkeys(skus)))],
            ["code", "template"],
            order=[("id", "ASC")],
            context=_INACTIVE_TOO,
        )
        found: dict[str, tuple[int, int]] = {}
        for row in rows:
            found.setdefault(row["code"], (int(row["id"]), int(row["template"])))
        return found

    def ensure_product(self, product: ProductInput) -> ProductResult:
        """Create the SKU as a salable goods template with one variant, or update it."""
        (result,) = self.ensure_products([product])
        return result

    def _template_values(self, product: ProductInput) -> dict[str, Any]:
        category_name = product.account_category or self._account_category
        template: dict[str, Any] = {
            "name": product.name,
            "type": "goods",
            "salable": True,
            "list_price": product.list_price,
        }
        if self._supports_production():
            template["producible"] = product.producible
            template["supply_on_sale"] = "always" if product.supply_on_sale else None
        elif product.producible or product.supply_on_sale:
            raise MappingError(
                f"product {product.sku!r} is to be produced but Tryton has no production modules"
            )
        if category_name:
            template["account_category"] = self.account_category_id(category_name)
        return template

    def ensure_products(self, products: Sequence[ProductInput]) -> list[ProductResult]:
        """:meth:`ensure_product` for many SKUs at once; one result per input, in order.

        All of them are looked up in one search, the missing ones created in one
        ``create`` and the changed templates updated in one ``write``. A SKU given twice
        is handled as two calls one after the other would.
        """
        first: dict[str, int] = {}
        later: list[int] = []
        for index, product in enumerate(products):
            if product.sku in first:
                later.append(index)
            else:
                first[product.sku] = index
        results: dict[int, ProductResult] = {}
        batch = [(index, products[index]) for index in first.values()]
        templates = {index: self._template_values(product) for index, product in batch}
        existing = self._find_products([product.sku for _, product in batch])
        missing = [(index, product) for index, product in batch if product.sku not in existing]
        if missing:
            values = []
            for index, product in missing:
                unit = self.unit_id(product.unit)
                values.append(
                    {
                        **templates[index],
                        "default_uom": unit,
                        "sale_uom": unit,
                        "products": [("create", [{"suffix_code": product.sku}])],
                    }
                )
            template_ids = self.client.create("product.template", values)
            variants: dict[int, int] = {}
            for row in self.client.search_read(
                "product.product",
                [("template", "in", template_ids)],
                ["template"],
                order=[("id", "ASC")],
            ):
                variants.setdefault(int(row["template"]), int(row["id"]))
            for (index, _), template_id in zip(missing, template_ids, strict=True):
                results[index] = ProductResult(
                    variants[template_id], template_id, created=True, updated=False
                )
        found = [(index, product) for index, product in batch if product.sku in existing]
        if found:
            fields = sorted({name for index, _ in found for name in templates[index]})
            template_ids = list(dict.fromkeys(existing[product.sku][1] for _, product in found))
            current = {
                row["id"]: row
                for row in self.client.read(
                    "product.template", template_ids, [*fields, "active"], context=_INACTIVE_TOO
                )
            }
            writes: list[Any] = []
            for index, product in found:
                product_id, template_id = existing[product.sku]
                row = current[template_id]
                changes = {
                    name: value
                    for name, value in templates[index].items()
                    if _differs(row.get(name), value)
                }
                if not row["active"]:
                    changes["active"] = True
                if changes:
                    writes += [[template_id], changes]
                results[index] = ProductResult(
                    product_id, template_id, created=False, updated=bool(changes)
                )
            if writes:
                self.client.execute("product.template", "write", *writes)
        if later:
            again = self.ensure_products([products[index] for index in later])
            results.update(zip(later, again, strict=True))
        return [results[index] for index in range(len(products))]

    # -- sales ------------------------------------------------------------------------

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
        lines = self._line_values(quotation.lines)
        sale_id = self.find_sale(quotation.crm_ref)
        if sale_id is None:
            values = self._sale_header(
                quotation.crm_ref,
                quotation.party_id,
                invoice_address_id=quotation.invoice_address_id,
                shipment_address_id=quotation.shipment_address_id,
                payment_term_id=quotation.payment_term_id,
                description=quotation.description,
            )
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
        if self._supports_base_price():
            fields.append("base_price")
        line_rows = self.client.read("sale.line", row["lines"], fields)
        lines = tuple(
            SaleLineResult(
                id=line["id"],
                product_id=line["product"],
                quantity=_decimal(line["quantity"]),
                unit_id=line["unit"],
                unit_price=_decimal(line["unit_price"]),
                base_price=_optional_decimal(line.get("base_price")),
                amount=_decimal(line["amount"]),
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
            untaxed_amount=_decimal(row["untaxed_amount"]),
            tax_amount=_decimal(row["tax_amount"]),
            total_amount=_decimal(row["total_amount"]),
            invoice_state=row["invoice_state"],
            shipment_state=row["shipment_state"],
            lines=lines,
            invoice_ids=tuple(row["invoices"]),
            shipment_ids=tuple(row["shipments"]),
            return_ids=tuple(row["shipment_returns"]),
            created=created,
        )

    def _sale_header(
        self,
        crm_ref: str,
        party_id: int,
        *,
        invoice_address_id: int | None,
        shipment_address_id: int | None,
        payment_term_id: int | None,
        description: str | None,
    ) -> dict[str, Any]:
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
        if payment_term_id is None and self._payment_term:
            payment_term_id = self.payment_term_id(self._payment_term)
        if payment_term_id is not None:
            values["payment_term"] = payment_term_id
        if description:
            values["description"] = description
        return values

    def _sale_units(self, product_ids: Sequence[int]) -> dict[int, int]:
        rows = self.client.read("product.product", list(dict.fromkeys(product_ids)), ["sale_uom"])
        return {row["id"]: row["sale_uom"] for row in rows}

    def _line_values(self, lines: Sequence[SaleLineInput]) -> list[dict[str, Any]]:
        if not lines:
            raise MappingError("a Tryton sale needs at least one line")
        missing_units = [line.product_id for line in lines if line.unit_id is None]
        units = self._sale_units(missing_units) if missing_units else {}
        with_base_price = self._supports_base_price()
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

    # -- invoices ---------------------------------------------------------------------

    def invoices(self, sale_id: int) -> tuple[InvoiceStatus, ...]:
        """Read the number, state, totals and payment state of the sale's invoices."""
        sale = self.sale(sale_id)
        return self._invoice_statuses(sale.invoice_ids)

    def post_invoices(self, sale_id: int) -> tuple[InvoiceStatus, ...]:
        """Post (number) the sale's draft or validated invoices; posted ones are left alone."""
        sale = self.sale(sale_id)
        statuses = self._invoice_statuses(sale.invoice_ids)
        to_post = [s.id for s in statuses if s.state in ("draft", "validated")]
        if to_post:
            self.client.button("account.invoice", "post", to_post)
            statuses = self._invoice_statuses(sale.invoice_ids)
        return statuses

    def _invoice_statuses(self, invoice_ids: Sequence[int]) -> tuple[InvoiceStatus, ...]:
        rows = self.client.read("account.invoice", list(invoice_ids), _INVOICE_FIELDS)
        return tuple(
            InvoiceStatus(
                id=row["id"],
                number=row["number"],
                state=row["state"],
                invoice_date=row["invoice_date"],
                untaxed_amount=_decimal(row["untaxed_amount"]),
                tax_amount=_decimal(row["tax_amount"]),
                total_amount=_decimal(row["total_amount"]),
                amount_to_pay=_decimal(row["amount_to_pay"]),
                payment_state=_payment_state(row),
            )
            for row in rows
        )

    # -- stock reservations and deliveries --------------------------------------------

    def reserve(self, sale_id: int) -> ReservationStatus:
        """Ask Tryton to reserve the stock of the sale's waiting shipments, then read it back.

        Short stock splits a move into a reserved part and a waiting part; running this
        again later reserves whatever has arrived since.
        """
        shipments = self._shipment_rows(self.sale(sale_id).shipment_ids)
        waiting = [row["id"] for row in shipments if row["state"] == "waiting"]
        if waiting:
            self.client.button("stock.shipment.out", "assign_try", waiting)
        return self.reservation(sale_id)

    def release(self, sale_id: int, *, cancel: bool = False) -> ReservationStatus:
        """Give back the stock reserved for the sale's shipments that have not been picked.

        The shipments go back to waiting (Tryton's ``wait``); with ``cancel`` they are
        cancelled instead, for a sale that will not be delivered.
        """
        shipments = self._shipment_rows(self.sale(sale_id).shipment_ids)
        if cancel:
            live = [row["id"] for row in shipments if row["state"] not in ("done", "cancelled")]
            if live:
                self.client.button("stock.shipment.out", "cancel", live)
        else:
            held = [row["id"] for row in shipments if row["state"] in ("waiting", "assigned")]
            if held:
                self.client.button("stock.shipment.out", "wait", held)
        return self.reservation(sale_id)

    def reservation(self, sale_id: int) -> ReservationStatus:
        """Read how much of each sale line is reserved, from the shipments' stock moves.

        A line's outgoing move (origin the sale line) is fed by inventory moves from
        storage (origin the outgoing move); their assigned quantity is what is reserved.
        In a warehouse without a separate output location the outgoing moves themselves
        are reserved.
        """
        sale = self.sale(sale_id)
        if not sale.lines:
            return ReservationStatus(sale_id, ())
        shipments = self.client.read(
            "stock.shipment.out", list(sale.shipment_ids), ["inventory_moves", "outgoing_moves"]
        )
        move_ids = [m for row in shipments for m in row["inventory_moves"] + row["outgoing_moves"]]
        moves = self.client.read("stock.move", move_ids, ["origin", "quantity", "state"])
        outgoing: dict[int, list[dict[str, Any]]] = {}
        feeding: dict[int, list[dict[str, Any]]] = {}
        for move in moves:
            line_id = _origin_id(move["origin"], "sale.line")
            if line_id is not None:
                outgoing.setdefault(line_id, []).append(move)
                continue
            source = _origin_id(move["origin"], "stock.move")
            if source is not None:
                feeding.setdefault(source, []).append(move)
        return ReservationStatus(
            sale_id,
            tuple(
                _line_reservation(line, outgoing.get(line.id, []), feeding) for line in sale.lines
            ),
        )

    def _shipment_rows(self, shipment_ids: Sequence[int]) -> list[dict[str, Any]]:
        return self.client.read(
            "stock.shipment.out",
            list(shipment_ids),
            ["number", "state", "planned_date", "effective_date"],
        )

    def delivery(self, sale_id: int) -> DeliveryStatus:
        """Read the sale's shipment state and each shipment's (picked, packed, done...)."""
        sale = self.sale(sale_id)
        rows = self._shipment_rows(sale.shipment_ids)
        return DeliveryStatus(sale_id, sale.shipment_state, tuple(_shipment_state(r) for r in rows))

    # -- returns ----------------------------------------------------------------------

    def create_return(self, request: ReturnInput) -> ReturnStatus:
        """Create and confirm the return as a sale with negative lines, once per ``crm_ref``.

        Tryton turns the confirmed return into a customer return shipment (to receive)
        and a credit note. The reason is kept as the sale's description and comment.
        """
        sale_id = self.find_sale(request.crm_ref)
        if sale_id is None:
            lines = self._line_values(
                [
                    SaleLineInput(
                        product_id=line.product_id,
                        quantity=-abs(line.quantity),
                        unit_price=line.unit_price,
                        tax_ids=line.tax_ids,
                        unit_id=line.unit_id,
                        description=request.reason or None,
                    )
                    for line in request.lines
                ]
            )
            values = self._sale_header(
                request.crm_ref,
                request.party_id,
                invoice_address_id=request.invoice_address_id,
                shipment_address_id=request.shipment_address_id,
                payment_term_id=request.payment_term_id,
                description=request.reason[:100] if request.reason else None,
            )
            if request.reason:
                values["comment"] = request.reason
            values["lines"] = [("create", lines)]
            (sale_id,) = self.client.create("sale.sale", [values])
        self.confirm_sale(sale_id)
        return self.return_status(sale_id)

    def return_status(self, sale_id: int) -> ReturnStatus:
        """Read a return's sale, its return shipments (received, done) and credit notes."""
        sale = self.sale(sale_id)
        rows = self.client.read(
            "stock.shipment.out.return",
            list(sale.return_ids),
            ["number", "state", "planned_date", "effective_date"],
        )
        return ReturnStatus(
            sale=sale,
            shipments=tuple(_shipment_state(row) for row in rows),
            credit_notes=self._invoice_statuses(sale.invoice_ids),
        )

    # -- productions ------------------------------------------------------------------

    def productions(self, sale_id: int) -> tuple[ProductionStatus, ...]:
        """Read the productions made for the sale's lines, oldest first."""
        sale = self.sale(sale_id)
        if not sale.lines:
            return ()
        rows = self.client.search_read(
            "production",
            [("origin", "in", [f"sale.line,{line.id}" for line in sale.lines])],
            _PRODUCTION_FIELDS,
            order=[("id", "ASC")],
        )
        return tuple(
            ProductionStatus(
                id=row["id"],
                number=row["number"],
                state=row["state"],
                product_id=row["product"],
                quantity=_decimal(row["quantity"]),
                sale_line_id=_origin_id(row["origin"], "sale.line"),
                planned_start_date=row["planned_start_date"],
                planned_date=row["planned_date"],
                effective_start_date=row["effective_start_date"],
                effective_date=row["effective_date"],
            )
            for row in rows
        )


def _by_party(rows: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(int(row["party"]), []).append(row)
    return grouped


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool):
        return bool(current) != wanted
    if isinstance(wanted, Decimal):
        return current is None or _decimal(current) != wanted
    return bool(current != wanted)


def _sync_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    wanted: Sequence[Any],
    key: Any,
    values: Any,
) -> list[tuple[Any, ...]]:
    """Return One2Many actions that make ``rows`` hold exactly ``wanted``.

    Rows that match a wanted key stay (reactivated if needed); missing keys are created
    with ``values(key)``; active rows nobody wants are deactivated, not deleted, since
    other documents may point at them. The CRM-id identifier is in ``wanted`` so it stays.
    """
    by_key: dict[Any, Mapping[str, Any]] = {}
    for row in rows:
        by_key.setdefault(key(row), row)
    wanted_keys = set(wanted)
    reactivate = [row["id"] for k, row in by_key.items() if k in wanted_keys and not row["active"]]
    keep = {by_key[k]["id"] for k in wanted_keys if k in by_key}
    deactivate = [row["id"] for row in rows if row["active"] and row["id"] not in keep]
    create = [values(k) for k in wanted if k not in by_key]
    actions: list[tuple[Any, ...]] = []
    if reactivate:
        actions.append(("write", reactivate, {"active": True}))
    if deactivate:
        actions.append(("write", deactivate, {"active": False}))
    if create:
        actions.append(("create", create))
    return actions


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
            _decimal(line["quantity"]),
            line["unit"],
            _decimal(line["unit_price"]),
            _optional_decimal(line.get("base_price")),
            tuple(sorted(taxes)),
        )

    return sorted(map(current_key, current), key=repr) == sorted(map(wanted_key, wanted), key=repr)


def _shipment_state(row: Mapping[str, Any]) -> ShipmentState:
    return ShipmentState(
        id=row["id"],
        number=row["number"],
        state=row["state"],
        planned_date=row["planned_date"],
        effective_date=row["effective_date"],
    )


def _line_reservation(
    line: SaleLineResult,
    outgoing: Sequence[Mapping[str, Any]],
    feeding: Mapping[int, Sequence[Mapping[str, Any]]],
) -> LineReservation:
    quantity = abs(line.quantity)
    live = [move for move in outgoing if move["state"] != "cancelled"]

    def result(reserved: Decimal, state: ReservationState) -> LineReservation:
        return LineReservation(line.id, line.product_id, quantity, reserved, state)

    if not live:
        return result(Decimal(0), "cancelled" if outgoing else "unavailable")
    if all(move["state"] == "done" for move in live):
        return result(quantity, "shipped")
    sources: list[Mapping[str, Any]] = []
    for move in live:
        inventory = [m for m in feeding.get(move["id"], []) if m["state"] != "cancelled"]
        sources.extend(inventory or [move])
    if any(move["state"] == "staging" for move in sources):
        return result(Decimal(0), "awaiting supply")
    reserved = sum(
        (_decimal(m["quantity"]) for m in sources if m["state"] in ("assigned", "done")),
        Decimal(0),
    )
    if reserved >= quantity:
        return result(quantity, "reserved")
    return result(reserved, "partly reserved" if reserved > 0 else "unavailable")

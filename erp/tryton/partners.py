"""Customers in Tryton: ``party.party``, found again by an identifier holding the CRM id.

Tryton 8.2 has no Iranian identifier types, so the national ID and economic code are
kept as identifiers without a type; the CRM id is an identifier ``<prefix><crm_id>``.
The CRM is the master of a party's name, untyped identifiers, phones, mobiles, emails
and addresses: missing ones are added and the others deactivated, never deleted, so
sales and invoices that use them stay intact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from erp.tryton.client import TrytonClient
from erp.tryton.values import INACTIVE_TOO

__all__ = ["AddressInput", "Parties", "PartyInput", "PartyResult"]

_CONTACT_TYPES = ("phone", "mobile", "email")


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
class PartyResult:
    """The Tryton party of a CRM customer; ``created``/``updated`` say what this call did."""

    id: int
    code: str
    created: bool
    updated: bool
    address_ids: tuple[int, ...]


class Parties:
    """Create and update the parties of CRM customers; ``crm_prefix`` starts the CRM identifier."""

    def __init__(self, client: TrytonClient, *, crm_prefix: str = "CRM:") -> None:
        self.client = client
        self.crm_prefix = crm_prefix

    def crm_identifier(self, crm_id: str) -> str:
        """Return the party identifier code that holds ``crm_id``."""
        return f"{self.crm_prefix}{crm_id}"

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
            context=INACTIVE_TOO,
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
            for row in client.read("party.party", ids, ["name", "active"], context=INACTIVE_TOO)
        }
        identifiers = _by_party(
            client.search_read(
                "party.identifier",
                [("party", "in", ids), ("type", "=", None)],
                ["party", "code", "active"],
                order=[("id", "ASC")],
                context=INACTIVE_TOO,
            )
        )
        contacts = _by_party(
            client.search_read(
                "party.contact_mechanism",
                [("party", "in", ids), ("type", "in", list(_CONTACT_TYPES))],
                ["party", "type", "value", "value_compact", "active"],
                order=[("id", "ASC")],
                context=INACTIVE_TOO,
            )
        )
        addresses = _by_party(
            client.search_read(
                "party.address",
                [("party", "in", ids)],
                ["party", "street", "city", "postal_code", "party_name", "active"],
                order=[("id", "ASC")],
                context=INACTIVE_TOO,
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
        rows = self.client.read("party.party", list(party_ids), ["code"], context=INACTIVE_TOO)
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


def _by_party(rows: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(int(row["party"]), []).append(row)
    return grouped


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

"""Customers in Odoo: ``res.partner``, found again by the CRM id in its ``ref``.

A customer's extra addresses are child partners whose ``ref`` is ``<crm id>/<address
key>``; countries are looked up by ISO code. Archived partners are found too (an
archived customer is updated, never created twice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import MappingError, PermanentError
from erp.odoo.client import OdooClient
from erp.odoo.values import odoo_values, write_changes

__all__ = ["AddressData", "PartnerData", "PartnerRef", "Partners"]


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
class PartnerRef:
    """The Odoo partner of a CRM customer, its extra addresses by key, and whether it is new."""

    partner_id: int
    created: bool
    addresses: Mapping[str, int] = field(default_factory=dict)


class Partners:
    """Create and update the partners of CRM customers."""

    def __init__(self, client: OdooClient) -> None:
        self.client = client

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
            write_changes(self.client, "res.partner", found[0], values)
            created = False
        else:
            (partner_id,) = self.client.create("res.partner", [odoo_values(values)])
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
                write_changes(
                    self.client,
                    "res.partner",
                    row,
                    {k: v for k, v in values.items() if k != "parent_id"},
                )
                result[address.key] = int(row["id"])
            else:
                to_create.append((address.key, values))
        if to_create:
            ids = self.client.create(
                "res.partner", [odoo_values(values) for _, values in to_create]
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

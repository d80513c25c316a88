"""Customers as Tryton parties, against a real trytond."""

from __future__ import annotations

import pytest

from erp.tryton import Tryton
from erp.tryton.partners import AddressInput
from tests.erp.tryton.helpers import counting, customer


def test_party_is_created_once_and_found_again_by_crm_id(erp: Tryton) -> None:
    first = erp.partners.ensure_party(customer())
    again = erp.partners.ensure_party(customer())

    assert first.created and not first.updated
    assert again.id == first.id and not again.created and not again.updated
    assert erp.partners.find_party("cust-1") == first.id
    assert erp.client.search("party.party", [("name", "=", "Ali Rezaei")]) == [first.id]
    codes = erp.client.search_read("party.identifier", [("party", "=", first.id)], ["code"])
    assert sorted(row["code"] for row in codes) == ["0012345678", "411111111111", "CRM:cust-1"]
    contacts = erp.client.search_read(
        "party.contact_mechanism", [("party", "=", first.id)], ["type", "value_compact", "value"]
    )
    # With phonenumbers installed Tryton shows numbers spaced; the compact form is E.164.
    assert {(row["type"], row["value_compact"] or row["value"]) for row in contacts} == {
        ("mobile", "+989121234567"),
        ("email", "ali@example.com"),
    }
    assert len(first.address_ids) == 1


def test_party_update_adds_new_details_and_deactivates_old_ones(erp: Tryton) -> None:
    first = erp.partners.ensure_party(customer())
    moved = AddressInput(street="Enghelab St. 5", city="Shiraz", postal_code="7134567890")

    changed = erp.partners.ensure_party(
        customer(
            name="Ali Rezaei Co.",
            addresses=(moved,),
            mobiles=("+989351112233",),
            economic_code=None,
        )
    )

    assert changed.id == first.id and changed.updated
    (row,) = erp.client.read("party.party", [first.id], ["name"])
    assert row["name"] == "Ali Rezaei Co."
    active = erp.client.search_read("party.address", [("party", "=", first.id)], ["city"])
    assert [a["city"] for a in active] == ["Shiraz"]
    mobiles = erp.client.search_read(
        "party.contact_mechanism",
        [("party", "=", first.id), ("type", "=", "mobile")],
        ["value_compact", "value"],
    )
    assert [m["value_compact"] or m["value"] for m in mobiles] == ["+989351112233"]
    codes = erp.client.search_read("party.identifier", [("party", "=", first.id)], ["code"])
    assert sorted(c["code"] for c in codes) == ["0012345678", "CRM:cust-1"]
    assert not erp.partners.ensure_party(
        customer(
            name="Ali Rezaei Co.",
            addresses=(moved,),
            mobiles=("+989351112233",),
            economic_code=None,
        )
    ).updated


def test_parties_in_a_batch_are_created_in_one_call_and_updated_in_one(
    erp: Tryton, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = erp.partners.ensure_party(customer(crm_id="b-0"))
    batch = [customer(crm_id=f"b-{i}", name=f"Customer {i}") for i in range(12)]
    batch.append(customer(crm_id="b-3", name="Customer 3, renamed"))  # twice: the last wins
    calls = counting(erp, monkeypatch)

    made = erp.partners.ensure_parties(batch)

    assert calls.count(("party.party", "create")) == 1
    assert calls.count(("party.party", "write")) == 2  # the batch, then the repeated id
    assert len(calls) <= 18  # a fixed number of calls per round, whatever the batch size
    assert [r.created for r in made] == [False] + [True] * 11 + [False]
    assert made[0].id == known.id and made[0].updated
    assert made[12].id == made[3].id and made[12].updated
    for party, result in zip(batch, made, strict=True):
        assert erp.partners.find_party(party.crm_id) == result.id
        assert len(result.address_ids) == 1
    (row,) = erp.client.read("party.party", [made[3].id], ["name"])
    assert row["name"] == "Customer 3, renamed"
    assert len(erp.client.search("party.identifier", [("code", "like", "CRM:b-%")])) == 12

    calls.clear()
    again = erp.partners.ensure_parties(batch[:12])
    assert [r.id for r in again] == [r.id for r in made[:12]]
    assert not any(r.created for r in again)
    assert [r.updated for r in again] == [False] * 3 + [True] + [False] * 8
    assert ("party.party", "create") not in calls
    assert calls.count(("party.party", "write")) == 1

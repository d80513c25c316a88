"""Customers as Odoo partners, replayed from recordings."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import MappingError, PermanentError
from erp.odoo.partners import AddressData, PartnerData
from tests.erp.odoo.replay import recorded

UTC = dt.UTC


def test_new_company_with_addresses_is_created_once_per_ref() -> None:
    partner = PartnerData(
        crm_id="cust-1001",
        name="شرکت پارس تجارت",
        is_company=True,
        vat="411111111111",
        street="خیابان ولیعصر، پلاک ۱۲",
        city="تهران",
        zip="1511733111",
        country_code="ir",
        phone="+982188776655",
        mobile="+989121234567",
        email="info@parstejarat.example",
        addresses=(
            AddressData(
                key="billing",
                kind="invoice",
                name="واحد مالی",
                street="خیابان ولیعصر، پلاک ۱۲",
                street2="طبقه ۳",
                city="تهران",
                zip="1511733111",
                country_code="IR",
                email="finance@parstejarat.example",
            ),
            AddressData(
                key="warehouse",
                kind="delivery",
                name="انبار کرج",
                street="جاده مخصوص، کیلومتر ۱۵",
                city="کرج",
                country_code="IR",
                phone="+982634567890",
            ),
        ),
    )
    with recorded("partners.json", "create_company_with_addresses") as odoo:
        ref = odoo.partners.upsert_partner(partner)
    assert ref.partner_id == 42
    assert ref.created
    assert ref.addresses == {"billing": 43, "warehouse": 44}


def test_existing_partner_gets_only_the_changed_fields() -> None:
    partner = PartnerData(
        crm_id="cust-2002",
        name="سارا احمدی",
        is_company=False,
        vat="0012345678",
        street="بلوار زند، پلاک ۱۲",
        city="شیراز",
        phone="+987132223344",
        mobile="+989171112233",
        email="sara@example.com",
    )
    with recorded("partners.json", "update_changed_fields") as odoo:
        ref = odoo.partners.upsert_partner(partner)
    assert (ref.partner_id, ref.created) == (58, False)


def test_unchanged_partner_writes_nothing() -> None:
    partner = PartnerData(
        crm_id="cust-3003",
        name="Rasa Trading",
        is_company=True,
        vat="411222333444",
        email="rasa@example.com",
    )
    with recorded("partners.json", "unchanged_writes_nothing") as odoo:
        assert odoo.partners.upsert_partner(partner).partner_id == 61


def test_two_partners_with_one_ref_stop_the_flow() -> None:
    with (
        recorded("partners.json", "duplicate_ref") as odoo,
        pytest.raises(PermanentError, match="merge them"),
    ):
        odoo.partners.upsert_partner(PartnerData(crm_id="cust-4004", name="X", is_company=False))


def test_unknown_country_is_a_mapping_error() -> None:
    partner = PartnerData(crm_id="cust-5005", name="Y", is_company=False, country_code="XX")
    with (
        recorded("partners.json", "unknown_country") as odoo,
        pytest.raises(MappingError, match="XX"),
    ):
        odoo.partners.upsert_partner(partner)

"""The access rights each plugin needs, checked as a live Odoo 17 integration user (replayed)."""

from __future__ import annotations

from erp.odoo.rights import FINANCE, INVENTORY, PRODUCTION, missing_rights, rights_detail
from tests.erp.odoo.replay import recorded


def test_sales_inventory_billing_and_mrp_users_cannot_create_partners_or_products() -> None:
    with recorded("rights.json", "finance_limited") as odoo:
        odoo.client.check_login()
        missing = missing_rights(odoo.client, FINANCE)
    assert missing == [
        "res.partner create: add Contact Creation (base.group_partner_manager)",
        "res.partner write: add Contact Creation (base.group_partner_manager)",
        "product.product create: add Sales / Administrator (sales_team.group_sale_manager)",
        "product.product write: add Sales / Administrator (sales_team.group_sale_manager)",
    ]


def test_contact_creation_and_sales_administrator_are_enough_for_finance() -> None:
    with recorded("rights.json", "finance_full") as odoo:
        odoo.client.check_login()
        assert rights_detail(odoo.client, FINANCE) is None


def test_inventory_and_production_need_only_their_user_groups() -> None:
    for flow, needs in (("inventory_limited", INVENTORY), ("production_limited", PRODUCTION)):
        with recorded("rights.json", flow) as odoo:
            odoo.client.check_login()
            assert missing_rights(odoo.client, needs) == []

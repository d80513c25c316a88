"""Products in Odoo by SKU, replayed from recordings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from erp.odoo.products import ProductData
from tests.erp.odoo.replay import recorded

UTC = dt.UTC


LAPTOP = ProductData(
    sku="SKU-LAPTOP-15",
    name="لپ‌تاپ ۱۵ اینچ",
    kind="goods",
    list_price=Decimal("12500000"),
    tax_ids=(5,),
)
INSTALL = ProductData(
    sku="SRV-INSTALL",
    name="نصب و راه‌اندازی",
    kind="service",
    list_price=Decimal("333000"),
    tax_ids=(5,),
)


def test_products_are_created_in_one_batch_in_odoo_16() -> None:
    with recorded("products.json", "create_batch_v16") as odoo:
        refs = odoo.products.upsert_products([LAPTOP, INSTALL])
    assert [(ref.sku, ref.product_id, ref.created) for ref in refs] == [
        ("SKU-LAPTOP-15", 101, True),
        ("SRV-INSTALL", 102, True),
    ]


def test_products_use_type_and_is_storable_in_odoo_18() -> None:
    products = [
        ProductData(sku=p.sku, name=p.name, kind=p.kind, list_price=p.list_price)
        for p in (LAPTOP, INSTALL)
    ]
    with recorded("products.json", "create_batch_v18") as odoo:
        refs = odoo.products.upsert_products(products)
    assert [ref.product_id for ref in refs] == [101, 102]


def test_known_product_gets_only_its_new_price() -> None:
    with recorded("products.json", "update_price") as odoo:
        ref = odoo.products.upsert_product(LAPTOP)
    assert (ref.product_id, ref.created) == (101, False)


def test_known_and_new_products_in_one_batch() -> None:
    mouse = ProductData(
        sku="SKU-MOUSE", name="ماوس بی‌سیم", kind="goods", list_price=Decimal("850000")
    )
    laptop = ProductData(
        sku=LAPTOP.sku, name=LAPTOP.name, kind="goods", list_price=LAPTOP.list_price
    )
    with recorded("products.json", "known_and_new") as odoo:
        refs = odoo.products.upsert_products([laptop, mouse])
    assert [(ref.product_id, ref.created) for ref in refs] == [(101, False), (103, True)]


def test_fields_the_erp_staff_own_are_never_written_after_creation() -> None:
    consumable = ProductData(
        sku=LAPTOP.sku,
        name=LAPTOP.name,
        kind="consumable",
        list_price=LAPTOP.list_price,
        tax_ids=(5,),
    )
    with recorded("products.json", "staff_owned_v17") as odoo:
        ref = odoo.products.upsert_product(consumable)
    assert (ref.product_id, ref.created) == (101, False)


def test_a_stock_tracked_product_is_created_storable_in_its_unit() -> None:
    cable = ProductData(
        sku="SKU-CABLE", name="کابل", kind="goods", list_price=Decimal(90000), uom_id=8
    )
    with recorded("products.json", "create_storable_with_unit_v17") as odoo:
        [ref] = odoo.products.upsert_products([cable])
    assert (ref.product_id, ref.created) == (130, True)


def test_a_used_product_keeps_its_type_on_a_live_odoo() -> None:
    cable = ProductData(sku="SKU-LIVE-CABLE", name="Cable", kind="goods", list_price=Decimal(1200))
    with recorded("products.json", "staff_owned_live_v17") as odoo:
        ref = odoo.products.upsert_product(cable)
    assert (ref.product_id, ref.created) == (4, False)

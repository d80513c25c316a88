"""Products in Tryton by SKU, against a real trytond."""

from __future__ import annotations

from decimal import Decimal

import pytest

from erp.tryton import Tryton
from erp.tryton.products import ProductInput
from tests.erp.tryton.helpers import counting


def test_product_is_found_by_sku_and_updated(erp: Tryton) -> None:
    made = erp.products.ensure_product(
        ProductInput(sku="SKU-1", name="Widget", list_price=Decimal("1250000"))
    )
    again = erp.products.ensure_product(
        ProductInput(sku="SKU-1", name="Widget", list_price=Decimal("1250000"))
    )
    repriced = erp.products.ensure_product(
        ProductInput(sku="SKU-1", name="Widget", list_price=Decimal("1300000"))
    )

    assert made.created and again.id == made.id and not again.created and not again.updated
    assert repriced.updated and repriced.id == made.id
    assert erp.products.find_product("SKU-1") == made.id
    (row,) = erp.client.read(
        "product.product", [made.id], ["code", "list_price_used", "salable", "default_uom.symbol"]
    )
    assert row["code"] == "SKU-1"
    assert row["list_price_used"] == Decimal("1300000")
    assert row["default_uom."]["symbol"] == "u"


def test_products_in_a_batch_are_created_in_one_call_and_updated_in_one(
    erp: Tryton, monkeypatch: pytest.MonkeyPatch
) -> None:
    def item(i: int, price: str = "1000") -> ProductInput:
        return ProductInput(sku=f"BATCH-{i}", name=f"Item {i}", list_price=Decimal(price))

    known = erp.products.ensure_product(item(0))
    calls = counting(erp, monkeypatch)

    made = erp.products.ensure_products(
        [item(0, "2000"), *(item(i) for i in range(1, 10)), item(1, "5")]
    )

    assert calls.count(("product.template", "create")) == 1
    assert calls.count(("product.template", "write")) == 2
    assert [r.created for r in made] == [False] + [True] * 9 + [False]
    assert made[0].id == known.id and made[0].updated
    assert made[10].id == made[1].id and made[10].updated
    for i, result in enumerate(made[:10]):
        assert erp.products.find_product(f"BATCH-{i}") == result.id
    rows = erp.client.read("product.product", [made[0].id, made[1].id], ["list_price_used"])
    assert [row["list_price_used"] for row in rows] == [Decimal("2000"), Decimal("5")]

    calls.clear()
    again = erp.products.ensure_products([item(0, "2000"), item(1, "5"), item(2)])
    assert [r.id for r in again] == [made[0].id, made[1].id, made[2].id]
    assert not any(r.created or r.updated for r in again)
    assert ("product.template", "create") not in calls
    assert ("product.template", "write") not in calls


def test_fields_the_erp_staff_own_are_never_written_after_creation(erp: Tryton) -> None:
    made = erp.products.ensure_product(
        ProductInput(sku="STAFF-1", name="Pump", list_price=Decimal(1000))
    )
    erp.client.write(
        "product.template",
        [made.template_id],
        {"producible": True, "supply_on_sale": "always"},
    )
    again = erp.products.ensure_product(
        ProductInput(sku="STAFF-1", name="Pump", list_price=Decimal(1200))
    )
    assert again.updated
    [row] = erp.client.read(
        "product.template",
        [made.template_id],
        ["list_price", "producible", "supply_on_sale", "type"],
    )
    assert Decimal(str(row["list_price"])) == Decimal(1200)
    assert (row["producible"], row["supply_on_sale"], row["type"]) == (True, "always", "goods")

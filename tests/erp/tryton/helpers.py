"""Shared inputs and helpers of the Tryton room tests."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from erp.tryton import Tryton
from erp.tryton.partners import AddressInput, PartyInput
from erp.tryton.products import ProductInput
from erp.tryton.sales import QuotationInput, SaleLineInput

TEHRAN = AddressInput(street="Valiasr St. 1200", city="Tehran", postal_code="1434843111")


ALI = PartyInput(
    crm_id="cust-1",
    name="Ali Rezaei",
    national_id="0012345678",
    economic_code="411111111111",
    addresses=(TEHRAN,),
    mobiles=("+989121234567",),
    emails=("ali@example.com",),
)


def customer(**changes: Any) -> PartyInput:
    return replace(ALI, **changes)


def product(erp: Tryton, sku: str, price: str = "1250000", *, producible: bool = False) -> int:
    made = erp.products.ensure_product(
        ProductInput(
            sku=sku,
            name=f"Product {sku}",
            list_price=Decimal(price),
            producible=producible,
            supply_on_sale=producible,
        )
    )
    return made.id


def quotation(erp: Tryton, ref: str, party_id: int, *lines: SaleLineInput) -> QuotationInput:
    return QuotationInput(crm_ref=ref, party_id=party_id, lines=lines)


def line(
    product_id: int,
    quantity: str,
    price: str,
    *,
    base_price: str | None = None,
    tax_ids: tuple[int, ...] = (),
) -> SaleLineInput:
    return SaleLineInput(
        product_id=product_id,
        quantity=Decimal(quantity),
        unit_price=Decimal(price),
        base_price=Decimal(base_price) if base_price else None,
        tax_ids=tax_ids,
    )


def counting(erp: Tryton, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record every (model, method) the ERP's client calls from now on."""
    calls: list[tuple[str, str]] = []
    execute = erp.client.execute

    def counted(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((model, method))
        return execute(model, method, *args, **kwargs)

    monkeypatch.setattr(erp.client, "execute", counted)
    return calls

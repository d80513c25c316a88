"""Products in Tryton: a salable goods ``product.template`` with one variant, found by its SKU.

The SKU is the variant's code (``suffix_code`` of a template without a prefix); the
template carries the name, price, units and the accounting category (revenue account
and customer taxes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.errors import MappingError
from erp.tryton.client import TrytonClient
from erp.tryton.lookups import Lookups
from erp.tryton.values import INACTIVE_TOO, to_decimal

__all__ = ["STAFF_OWNED", "ProductInput", "ProductResult", "Products"]


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
class ProductResult:
    """The Tryton variant (``id``) and template of a SKU; ``created``/``updated`` as above."""

    id: int
    template_id: int
    created: bool
    updated: bool


class Products:
    """Create and update the products of CRM SKUs.

    ``account_category`` names the product category used when an input does not say.
    """

    def __init__(
        self, client: TrytonClient, lookups: Lookups, *, account_category: str | None = None
    ) -> None:
        self.client = client
        self.lookups = lookups
        self.account_category = account_category

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
            context=INACTIVE_TOO,
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
        category_name = product.account_category or self.account_category
        template: dict[str, Any] = {
            "name": product.name,
            "type": "goods",
            "salable": True,
            "list_price": product.list_price,
        }
        if self.lookups.supports_production():
            template["producible"] = product.producible
            template["supply_on_sale"] = "always" if product.supply_on_sale else None
        elif product.producible or product.supply_on_sale:
            raise MappingError(
                f"product {product.sku!r} is to be produced but Tryton has no production modules"
            )
        if category_name:
            template["account_category"] = self.lookups.account_category_id(category_name)
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
                unit = self.lookups.unit_id(product.unit)
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
                    "product.template", template_ids, [*fields, "active"], context=INACTIVE_TOO
                )
            }
            writes: list[Any] = []
            for index, product in found:
                product_id, template_id = existing[product.sku]
                row = current[template_id]
                changes = {
                    name: value
                    for name, value in templates[index].items()
                    if name not in STAFF_OWNED and _differs(row.get(name), value)
                }
                if row.get("account_category") is None and "account_category" in templates[index]:
                    changes["account_category"] = templates[index]["account_category"]
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


#: Template fields written only when crm-sync creates the product: after that they belong
#: to the ERP's staff (the type, whether and how it is produced, its units, and its
#: account category, which carries the taxes, once one is set).
STAFF_OWNED = frozenset({"type", "producible", "supply_on_sale", "account_category"})


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool):
        return bool(current) != wanted
    if isinstance(wanted, Decimal):
        return current is None or to_decimal(current) != wanted
    return bool(current != wanted)

"""Products in Odoo: ``product.product``, found again by the SKU in ``default_code``.

The product type field differs between Odoo versions (see
:class:`~erp.odoo.client.VersionProfile`).

Some fields belong to the ERP's staff once the product exists, and crm-sync writes them
only when it creates the product (:data:`STAFF_OWNED`): the type (a live Odoo 17 refuses
to change it once the product was used, "You can not change the type of a product that
was already used", and staff make goods storable for reservations and make-to-order),
the routes, the unit of measure, and the taxes once any are set. Name, price and
invoicing policy follow the CRM.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from core.errors import MappingError, PermanentError
from erp.odoo.client import OdooClient
from erp.odoo.values import odoo_values, write_changes

__all__ = ["STAFF_OWNED", "ProductData", "ProductRef", "Products"]

#: Fields written only when crm-sync creates the product; the ERP's staff own them after.
STAFF_OWNED = frozenset(
    {"detailed_type", "type", "is_storable", "route_ids", "uom_id", "uom_po_id"}
)


@dataclass(frozen=True)
class ProductData:
    """A CRM product as Odoo's ``product.product`` needs it, keyed by its SKU.

    ``kind`` ``goods`` is a stock-tracked product (needs the Inventory app), ``consumable``
    is delivered without stock levels, ``service`` is never delivered. ``invoice_policy``
    ``order`` lets the invoice follow the confirmation at once (the pro-forma flow);
    ``delivery`` invoices only what was delivered. ``tax_ids`` are Odoo ``account.tax``
    ids (None leaves Odoo's default sales taxes); ``uom_id`` the ``uom.uom`` id of the
    product's unit (sales and purchase), None for Odoo's default (Units).
    """

    sku: str
    name: str
    kind: Literal["goods", "consumable", "service"]
    list_price: Decimal
    invoice_policy: Literal["order", "delivery"] = "order"
    tax_ids: tuple[int, ...] | None = None
    uom_id: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductRef:
    """The Odoo product of a CRM SKU and whether this call created it."""

    sku: str
    product_id: int
    created: bool


class Products:
    """Create and update the products of CRM SKUs."""

    def __init__(self, client: OdooClient) -> None:
        self.client = client
        self.profile = client.profile

    def upsert_product(self, product: ProductData) -> ProductRef:
        """Find the product whose ``default_code`` is the SKU; create or update it."""
        return self.upsert_products([product])[0]

    def upsert_products(self, products: Sequence[ProductData]) -> list[ProductRef]:
        """Like :meth:`upsert_product` for many SKUs: one search and one batch create."""
        if not products:
            return []
        skus = [product.sku for product in products]
        if len(set(skus)) != len(skus):
            raise MappingError("the same SKU appears twice in one product batch")
        values_by_sku = {product.sku: self._product_values(product) for product in products}
        fields = sorted({key for values in values_by_sku.values() for key in values} - {"sale_ok"})
        found = self.client.search_read(
            "product.product",
            [("default_code", "in", skus)],
            fields,
            context={"active_test": False},
        )
        by_sku: dict[str, dict[str, Any]] = {}
        for row in found:
            sku = str(row["default_code"])
            if sku in by_sku:
                raise PermanentError(
                    f"several Odoo products have the SKU {sku!r}; merge them in Odoo"
                )
            by_sku[sku] = row
        refs: dict[str, ProductRef] = {}
        for sku, row in by_sku.items():
            values = {
                k: v
                for k, v in values_by_sku[sku].items()
                if k != "sale_ok" and k not in STAFF_OWNED
            }
            if row.get("taxes_id"):
                values.pop("taxes_id", None)
            write_changes(self.client, "product.product", row, values)
            refs[sku] = ProductRef(sku=sku, product_id=int(row["id"]), created=False)
        missing = [sku for sku in skus if sku not in by_sku]
        if missing:
            ids = self.client.create(
                "product.product", [odoo_values(values_by_sku[sku]) for sku in missing]
            )
            for sku, new_id in zip(missing, ids, strict=True):
                refs[sku] = ProductRef(sku=sku, product_id=new_id, created=True)
        return [refs[sku] for sku in skus]

    def _product_values(self, product: ProductData) -> dict[str, Any]:
        kinds = {
            "goods": self.profile.goods_values,
            "consumable": self.profile.consumable_values,
            "service": self.profile.service_values,
        }
        values: dict[str, Any] = {
            "name": product.name,
            "default_code": product.sku,
            "list_price": product.list_price,
            "invoice_policy": product.invoice_policy,
            "sale_ok": True,
            **kinds[product.kind],
        }
        if product.tax_ids is not None:
            values["taxes_id"] = [(6, 0, list(product.tax_ids))]
        if product.uom_id is not None:
            values["uom_id"] = product.uom_id
            values["uom_po_id"] = product.uom_id
        values.update(product.extra)
        return values

    def ids_by_sku(self, skus: Iterable[str]) -> dict[str, int]:
        """The product id of each SKU Odoo has (active products only)."""
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        rows = self.client.search_read(
            "product.product", [("default_code", "in", wanted)], ["default_code"]
        )
        return {str(row["default_code"]): int(row["id"]) for row in rows}

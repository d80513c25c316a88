"""Ids Tryton's staff name (units, taxes, product categories, payment terms), found once and kept.

Also whether the server has the optional modules crm-sync uses (``sale_discount``'s
``base_price``, the production modules' ``producible`` and ``supply_on_sale``).
"""

from __future__ import annotations

from typing import Any

from core.errors import MappingError
from erp.tryton.client import TrytonClient

__all__ = ["Lookups"]


class Lookups:
    """Name-to-id lookups on one Tryton database, each asked once per name."""

    def __init__(self, client: TrytonClient) -> None:
        self.client = client
        self._units: dict[str, int] = {}
        self._categories: dict[str, int] = {}
        self._taxes: dict[str, int] = {}
        self._currencies: dict[str, int] = {}
        self._payment_terms: dict[str, int] = {}
        self._has_base_price: bool | None = None
        self._has_production: bool | None = None

    def _lookup(self, cache: dict[str, int], model: str, domain: list[Any], key: str) -> int:
        if key not in cache:
            found = self.client.search(model, domain, limit=2)
            if len(found) != 1:
                what = "no" if not found else "more than one"
                raise MappingError(f"Tryton has {what} {model} matching {key!r}")
            cache[key] = found[0]
        return cache[key]

    def unit_id(self, unit: str) -> int:
        """Return the id of the unit of measure whose symbol (or else name) is ``unit``."""
        if unit not in self._units:
            found = self.client.search("product.uom", [("symbol", "=", unit)], limit=2)
            if len(found) != 1:
                found = self.client.search("product.uom", [("name", "=", unit)], limit=2)
            if len(found) != 1:
                raise MappingError(f"Tryton has no single unit of measure {unit!r}")
            self._units[unit] = found[0]
        return self._units[unit]

    def currency_id(self, code: str) -> int:
        """Return the id of the currency whose ISO code is ``code`` (a MappingError if none)."""
        return self._lookup(self._currencies, "currency.currency", [("code", "=", code)], code)

    def tax_id(self, name: str) -> int:
        """Return the id of the active tax named ``name`` (as the ERP's accountant named it)."""
        return self._lookup(self._taxes, "account.tax", [("name", "=", name)], name)

    def account_category_id(self, name: str) -> int:
        """Return the id of the accounting product category named ``name``."""
        domain = [("name", "=", name), ("accounting", "=", True)]
        return self._lookup(self._categories, "product.category", domain, name)

    def payment_term_id(self, name: str) -> int:
        """Return the id of the payment term named ``name``."""
        domain = [("name", "=", name)]
        model = "account.invoice.payment_term"
        return self._lookup(self._payment_terms, model, domain, name)

    def supports_production(self) -> bool:
        """Whether products can be producible and supplied on sale (the production modules)."""
        if self._has_production is None:
            described = self.client.execute(
                "product.template", "fields_get", ["producible", "supply_on_sale"]
            )
            self._has_production = {"producible", "supply_on_sale"} <= set(described)
        return self._has_production

    def supports_base_price(self) -> bool:
        """Whether sale lines keep an undiscounted ``base_price`` (``sale_discount``)."""
        if self._has_base_price is None:
            described = self.client.execute("sale.line", "fields_get", ["base_price"])
            self._has_base_price = "base_price" in described
        return self._has_base_price

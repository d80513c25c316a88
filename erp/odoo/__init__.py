"""Odoo 16 to 18 over JSON-RPC: one client, then one module per business object.

Where to look:

- :mod:`erp.odoo.client`: :class:`OdooClient` (login, ``execute_kw``, error classes),
  :class:`OdooSettings`, and the names that differ between versions (:class:`VersionProfile`);
- :mod:`erp.odoo.values`: Odoo's ``false``, many2ones, dates and numbers; write-if-changed;
- :mod:`erp.odoo.polling`: the ``write_date`` cursor that hands out each change once;
- :mod:`erp.odoo.partners`: customers (``res.partner``, by ``ref``) and their addresses;
- :mod:`erp.odoo.products`: products (``product.product``, by ``default_code``);
- :mod:`erp.odoo.sales`: quotations and orders (``sale.order``, by ``client_order_ref``);
- :mod:`erp.odoo.invoices`: invoices (``account.move``), posting and polling them;
- :mod:`erp.odoo.stock`: deliveries, reservations, service parts and returns (``stock.picking``);
- :mod:`erp.odoo.manufacturing`: manufacturing orders (``mrp.production``).

Every operation that creates something finds it by the CRM's id first, so a retried
job, or one that crashed between "Odoo created it" and "we recorded the id", never
creates a second one. :class:`Odoo` gathers the rooms on one client.
"""

from __future__ import annotations

from erp.odoo.client import OdooClient, OdooServerError, OdooSettings
from erp.odoo.invoices import Invoices
from erp.odoo.manufacturing import Manufacturing
from erp.odoo.partners import Partners
from erp.odoo.products import Products
from erp.odoo.sales import Sales
from erp.odoo.stock import Stock

__all__ = ["Odoo", "OdooClient", "OdooServerError", "OdooSettings"]


class Odoo:
    """Every business room on one Odoo database, sharing one :class:`OdooClient`."""

    def __init__(self, client: OdooClient, *, discount_digits: int = 2) -> None:
        self.client = client
        self.partners = Partners(client)
        self.products = Products(client)
        self.sales = Sales(client, discount_digits=discount_digits)
        self.invoices = Invoices(client)
        self.stock = Stock(client)
        self.manufacturing = Manufacturing(client)

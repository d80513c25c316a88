"""Tryton 8.x over JSON-RPC: one client, then one module per business object.

Where to look:

- :mod:`erp.tryton.client`: :class:`TrytonClient` (login, session, wizards, error classes)
  and :class:`TrytonSettings`;
- :mod:`erp.tryton.values`: exact decimals, ``model,id`` references, inactive records;
- :mod:`erp.tryton.lookups`: units, taxes, categories and payment terms by name;
- :mod:`erp.tryton.partners`: customers (``party.party``, by a CRM identifier);
- :mod:`erp.tryton.products`: products (``product.template`` and its variant, by SKU);
- :mod:`erp.tryton.sales`: quotations and sales (``sale.sale``, by ``reference``);
- :mod:`erp.tryton.invoices`: invoices (``account.invoice``), posting and polling them;
- :mod:`erp.tryton.stock`: reservations, deliveries, service parts and returns;
- :mod:`erp.tryton.manufacturing`: productions made for sale lines, and polling them.

Every operation that creates something looks it up by the CRM's id first, so running
it again after a crash between "Tryton created it" and "we recorded the id" finds the
first record instead of creating a second one. Results are small frozen dataclasses
with Tryton's ids, states and exact Decimal amounts. :class:`Tryton` gathers the rooms
on one client.
"""

from __future__ import annotations

from erp.tryton.client import TrytonClient, TrytonSettings
from erp.tryton.invoices import Invoices
from erp.tryton.lookups import Lookups
from erp.tryton.manufacturing import Manufacturing
from erp.tryton.partners import Parties
from erp.tryton.products import Products
from erp.tryton.sales import Sales
from erp.tryton.stock import Stock

__all__ = ["Tryton", "TrytonClient", "TrytonSettings"]


class Tryton:
    """Every business room on one Tryton database, sharing one :class:`TrytonClient`.

    ``account_category`` and ``payment_term`` name the defaults used when an input does
    not say (a product category with accounting, a payment term); ``crm_prefix`` starts
    the party identifier that holds the CRM id.
    """

    def __init__(
        self,
        client: TrytonClient,
        *,
        account_category: str | None = None,
        payment_term: str | None = None,
        crm_prefix: str = "CRM:",
    ) -> None:
        self.client = client
        self.lookups = Lookups(client)
        self.partners = Parties(client, crm_prefix=crm_prefix)
        self.products = Products(client, self.lookups, account_category=account_category)
        self.sales = Sales(client, self.lookups, payment_term=payment_term)
        self.invoices = Invoices(client, self.sales)
        self.stock = Stock(client, self.sales, self.invoices)
        self.manufacturing = Manufacturing(client, self.sales)

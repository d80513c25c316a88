"""ERP packages: one per ERP, each of the same shape, called by the business plugins.

- :mod:`erp.odoo`: Odoo 16 to 18 (JSON-RPC);
- :mod:`erp.tryton`: Tryton 8.x (JSON-RPC);
- :mod:`erp.targets`: the settings a plugin uses to pick its backend (webhook, Tryton, Odoo).

An ERP package has a ``client`` module (connection, login, error classification), then
one module per business object: ``partners``, ``products``, ``sales``, ``invoices``,
``stock`` and ``manufacturing``, and a class in its ``__init__`` that gathers them on one
client. A new ERP (ERPNext, a local Iranian ERP) is a package of the same shape. These
packages speak the ERP's language (its ids, states and documents); turning them into
canonical CRM records is the plugins' job. Generic HTTP and webhook pieces stay in
:mod:`core.connectors`.
"""

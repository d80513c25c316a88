"""The least Odoo 17 access rights each plugin needs, and a check that names what is missing.

Each plugin's Odoo backend reads and writes a known set of models. Odoo grants model
rights per group (``ir.model.access.csv`` of each addon); the groups named here are the
Odoo 17 Community ones that grant the operation (``addons/*/security/ir.model.access.csv``),
as seen on a live server: Sales User, Inventory User, Billing and MRP User do not let a
user create partners or products; Contact Creation (``base.group_partner_manager``) and
Sales Administrator (or Inventory Administrator) do.

:func:`missing_rights` asks Odoo as the integration user (``check_access_rights`` with
``raise_exception=False``, a public method of every model) for each model and operation,
so the health check, and so ``crm-sync plugins --check``, fails naming the group to add.
Record rules (which rows a user sees) are not checked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from erp.odoo.client import OdooClient

SALES_USER = "Sales / User: Own Documents Only (sales_team.group_sale_salesman)"
SALES_ADMIN = "Sales / Administrator (sales_team.group_sale_manager)"
CONTACTS = "Contact Creation (base.group_partner_manager)"
BILLING = "Invoicing / Billing (account.group_account_invoice)"
STOCK_USER = "Inventory / User (stock.group_stock_user)"
MRP_USER = "Manufacturing / User (mrp.group_mrp_user)"


@dataclass(frozen=True)
class Need:
    """One operation (read, write, create, unlink) on one model, and the group that grants it."""

    model: str
    operation: str
    group: str


FINANCE: tuple[Need, ...] = (
    Need("res.partner", "read", SALES_USER),
    Need("res.partner", "create", CONTACTS),
    Need("res.partner", "write", CONTACTS),
    Need("product.product", "read", SALES_USER),
    Need("product.product", "create", SALES_ADMIN),
    Need("product.product", "write", SALES_ADMIN),
    Need("product.pricelist", "read", SALES_USER),
    Need("account.tax", "read", BILLING),
    Need("sale.order", "read", SALES_USER),
    Need("sale.order", "create", SALES_USER),
    Need("sale.order", "write", SALES_USER),
    Need("sale.order.line", "create", SALES_USER),
    Need("sale.advance.payment.inv", "create", SALES_USER),
    Need("account.move", "read", BILLING),
    Need("account.move", "write", BILLING),
)

INVENTORY: tuple[Need, ...] = (
    Need("product.product", "read", STOCK_USER),
    Need("sale.order", "read", STOCK_USER),
    Need("stock.picking", "read", STOCK_USER),
    Need("stock.picking", "create", STOCK_USER),
    Need("stock.picking", "write", STOCK_USER),
    Need("stock.move", "read", STOCK_USER),
    Need("stock.move", "write", STOCK_USER),
    Need("stock.return.picking", "create", STOCK_USER),
)

PRODUCTION: tuple[Need, ...] = (
    Need("mrp.production", "read", MRP_USER),
    Need("sale.order", "read", SALES_USER),
)


def missing_rights(client: OdooClient, needs: Sequence[Need]) -> list[str]:
    """The needs the logged-in user lacks, as ``model operation: add <group>``."""
    missing = []
    for need in needs:
        allowed = client.execute_kw(
            need.model, "check_access_rights", [need.operation], {"raise_exception": False}
        )
        if not allowed:
            missing.append(f"{need.model} {need.operation}: add {need.group}")
    return missing


def rights_detail(client: OdooClient, needs: Sequence[Need]) -> str | None:
    """A health message naming every missing right, None when the user has them all."""
    missing = missing_rights(client, needs)
    if not missing:
        return None
    return f"Odoo user {client.login!r} lacks access rights: " + "; ".join(missing)


__all__ = [
    "FINANCE",
    "INVENTORY",
    "PRODUCTION",
    "Need",
    "missing_rights",
    "rights_detail",
]

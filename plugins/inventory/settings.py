"""Settings of the inventory plugin: ``[plugins.inventory]``, ``CRM_SYNC_PLUGINS__INVENTORY__*``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from erp.targets import ErpTargetSettings


class InventorySettings(ErpTargetSettings):
    """Which backend the inventory plugin talks to, and which document reserves stock.

    ``reserve_on`` picks the document whose lines are reserved: an approved pro-forma
    (``proforma``, stock held while the customer pays) or a confirmed order (``order``).
    The ``tryton_*`` and ``odoo_*`` fields say where a service case's parts are taken
    from and to; they are only needed when service cases reserve parts.
    """

    reserve_on: Literal["proforma", "order"] = "proforma"
    sales_plugin: str = Field(
        default="finance",
        min_length=1,
        description="the plugin that makes the ERP's sales: reservations wait on it",
    )
    tryton_parts_from: str = Field(
        default="STO", description="tryton: code of the storage location parts are taken from"
    )
    tryton_parts_to: str | None = Field(
        default=None, description="tryton: code of the storage location service parts go to"
    )
    odoo_parts_picking_type: int | None = Field(
        default=None, description="odoo: id of the stock.picking.type of service-part pickings"
    )
    odoo_parts_from: int | None = Field(
        default=None, description="odoo: stock.location id parts are taken from"
    )
    odoo_parts_to: int | None = Field(
        default=None, description="odoo: stock.location id service parts go to"
    )

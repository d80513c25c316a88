"""Manufacturing in Odoo: ``mrp.production`` orders made for sale orders, read and polled.

States are ``draft``, ``confirmed``, ``progress``, ``to_close``, ``done``, ``cancel``; the
planned start and end field names differ between versions (see
:class:`~erp.odoo.client.VersionProfile`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from erp.odoo.client import OdooClient
from erp.odoo.polling import Changes, PollCursor, poll_changes
from erp.odoo.values import many2one_id, odoo_value, parse_datetime, to_decimal

__all__ = ["Manufacturing", "ProductionStatus"]


@dataclass(frozen=True)
class ProductionStatus:
    """A manufacturing order: stage, progress and the dates that set a delivery promise.

    ``date_finished`` is the planned end while the order runs and the real end once it
    is done; ``date_deadline`` is the date it must be finished by to deliver on time.
    """

    production_id: int
    name: str
    state: str
    origin: str | None
    product_id: int | None
    product_qty: Decimal
    qty_produced: Decimal
    date_start: dt.datetime | None
    date_finished: dt.datetime | None
    date_deadline: dt.datetime | None

    @property
    def progress(self) -> Decimal:
        """Share of the quantity already produced, from 0 to 1."""
        if self.product_qty <= 0:
            return Decimal(0)
        return min(Decimal(1), self.qty_produced / self.product_qty)


class Manufacturing:
    """Read and poll the manufacturing orders of sale orders."""

    def __init__(self, client: OdooClient) -> None:
        self.client = client
        self.profile = client.profile

    def productions_of(self, order_name: str) -> list[ProductionStatus]:
        """Read the manufacturing orders made for a sale order, by its name (``S00042``).

        An MO belongs to the order when its ``origin`` is the order's name or its
        procurement group is the order's (the group Odoo names after the order).
        """
        rows = self.client.search_read(
            "mrp.production",
            ["|", ("origin", "=", order_name), ("procurement_group_id.name", "=", order_name)],
            self._production_fields(),
            order="id asc",
        )
        return [self._production(row) for row in rows]

    def _production_fields(self) -> list[str]:
        return sorted(
            {
                "name",
                "state",
                "origin",
                "product_id",
                "product_qty",
                "qty_produced",
                "date_deadline",
                self.profile.production_start_field,
                self.profile.production_finish_field,
            }
        )

    def _production(self, row: Mapping[str, Any]) -> ProductionStatus:
        return ProductionStatus(
            production_id=int(row["id"]),
            name=str(row["name"]),
            state=str(row["state"]),
            origin=odoo_value(row["origin"]),
            product_id=many2one_id(row["product_id"]),
            product_qty=to_decimal(row["product_qty"]),
            qty_produced=to_decimal(row["qty_produced"]),
            date_start=parse_datetime(row[self.profile.production_start_field]),
            date_finished=parse_datetime(row[self.profile.production_finish_field]),
            date_deadline=parse_datetime(row["date_deadline"]),
        )

    def poll_productions(
        self, cursor: PollCursor, *, limit: int = 200, overlap_seconds: int = 60
    ) -> Changes[ProductionStatus]:
        """Return manufacturing orders changed since ``cursor``."""
        batch = poll_changes(
            self.client,
            "mrp.production",
            self._production_fields(),
            cursor,
            limit=limit,
            overlap_seconds=overlap_seconds,
        )
        return Changes(
            [self._production(row) for row in batch.records], batch.cursor, batch.has_more
        )

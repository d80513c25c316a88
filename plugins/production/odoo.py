"""The ``odoo`` backend: poll Odoo's manufacturing orders (``mrp.production``) with a cursor.

Polling uses the shared :meth:`OdooFlows.poll_productions` (``write_date`` cursor with an
overlap window and fingerprints, so shared timestamps and late commits lose nothing).
An MO belongs to a CRM order through its ``origin``, the name of the sale order that
requested it (``S00042``); one ``search_read`` on ``sale.order`` per poll turns those
names into the sale orders' ``client_order_ref``, where the finance plugin keeps the CRM
id. MOs without such an origin, or for sale orders the CRM does not know, are passed over.

What the CRM gets: ``stage`` is the MO's state (``cancel`` becomes ``cancelled``),
``progress`` is ``qty_produced / product_qty`` in percent, and the ETA is the MO's
planned end (its real end once done), else its deadline. Odoo's poll answer carries no
per-record change time, so a report's time is the newest ``write_date`` of its poll.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from pydantic import ValidationError

from core.connectors.odoo import PollCursor, parse_datetime
from core.connectors.odoo_flows import OdooFlows, ProductionStatus
from core.plugin_types import InboundEvent, PollResult, Records
from plugins.production.mapping import CANCELLED, WorkOrderReport


def _fingerprint(production: ProductionStatus) -> str:
    values = [
        production.state,
        str(production.qty_produced),
        str(production.product_qty),
        str(production.date_finished),
        str(production.date_deadline),
        str(production.origin),
    ]
    return hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:16]


def report(
    production: ProductionStatus, order_id: str, reported_at: dt.datetime | None
) -> WorkOrderReport:
    """The canonical report of one manufacturing order."""
    finish = production.date_finished or production.date_deadline
    return WorkOrderReport(
        status_id=f"odoo-mrp-{production.production_id}",
        order_id=order_id,
        work_order=production.name,
        stage=CANCELLED if production.state == "cancel" else production.state,
        progress=int(production.progress * 100),
        eta=finish.date() if finish is not None else None,
        reported_at=reported_at,
    )


def _crm_ids(flows: OdooFlows, names: Sequence[str]) -> dict[str, str]:
    """The CRM id (``client_order_ref``) of each sale order name that has one."""
    if not names:
        return {}
    rows = flows.client.search_read(
        "sale.order", [("name", "in", sorted(set(names)))], ["name", "client_order_ref"]
    )
    return {
        str(row["name"]): str(row["client_order_ref"]) for row in rows if row["client_order_ref"]
    }


def poll(
    flows: OdooFlows,
    cursor_text: str | None,
    records: Records | None,
    *,
    limit: int,
    overlap: int,
) -> PollResult:
    """One poll: the changed MOs of known orders as events, and the new cursor."""
    changes = flows.poll_productions(
        PollCursor.from_json(cursor_text), limit=limit, overlap_seconds=overlap
    )
    reported_at = parse_datetime(changes.cursor.write_date)
    orders = _crm_ids(flows, [p.origin for p in changes.items if p.origin])
    events: list[InboundEvent] = []
    for production in changes.items:
        order_id = orders.get(production.origin or "")
        if order_id is None:
            continue
        try:
            made = report(production, order_id, reported_at)
        except ValidationError:
            continue
        if records is not None and records.get("order", order_id) is None:
            continue
        event_id = (
            f"odoo-mrp:{production.production_id}:{changes.cursor.write_date}:"
            f"{_fingerprint(production)}"
        )
        events.append(made.event(event_id))
    return PollResult(events=events, cursor=changes.cursor.to_json(), more=changes.has_more)


__all__ = ["poll", "report"]

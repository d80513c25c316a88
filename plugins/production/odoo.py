"""The ``odoo`` backend: poll Odoo's manufacturing orders (``mrp.production``) with a cursor.

Polling uses :meth:`~erp.odoo.manufacturing.Manufacturing.poll_productions` (a
``write_date`` cursor with an overlap window and fingerprints, so shared timestamps and
late commits lose nothing).
An MO belongs to a CRM order through its ``origin``, the name of the sale order that
requested it (``S00042``); one ``search_read`` on ``sale.order`` per poll turns those
names into the sale orders' ``client_order_ref``, where the finance plugin keeps the CRM
id of the pro-forma (or order) the sale was made from. MOs without such an origin, or
for sale orders without a reference, were not asked for by the CRM and are passed over.
Every other MO becomes an event, even when the CRM does not know its order yet: the
inbox keeps it pending and retries it (:func:`plugins.production.mapping.apply_report`
finds the order, through its pro-forma if need be), so the cursor never moves past a
change that was not applied.

What the CRM gets: ``stage`` is the MO's state (``cancel`` becomes ``cancelled``),
``progress`` is ``qty_produced / product_qty`` in percent, and the ETA is the MO's
planned end (its real end once done), else its deadline, as a date in the company's zone
(``time_zone``, Asia/Tehran by default): Odoo stores UTC, and an MO ending at 21:00 UTC
ends after midnight in Tehran. Odoo's poll answer carries no
per-record change time, so a report's time is the newest ``write_date`` of its poll.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from core.plugin_types import InboundEvent, PollResult
from erp.odoo import Odoo
from erp.odoo.manufacturing import ProductionStatus
from erp.odoo.polling import PollCursor
from erp.odoo.values import parse_datetime
from plugins.production.mapping import CANCELLED, WorkOrderReport

log = logging.getLogger(__name__)
#: The zone ETAs are dated in unless the settings say otherwise.
TEHRAN = ZoneInfo("Asia/Tehran")


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
    production: ProductionStatus,
    order_id: str,
    reported_at: dt.datetime | None,
    zone: ZoneInfo = TEHRAN,
) -> WorkOrderReport:
    """The canonical report of one manufacturing order; its ETA is a date in ``zone``."""
    finish = production.date_finished or production.date_deadline
    if finish is not None:
        finish = finish.replace(tzinfo=finish.tzinfo or dt.UTC).astimezone(zone)
    return WorkOrderReport(
        status_id=f"odoo-mrp-{production.production_id}",
        order_id=order_id,
        work_order=production.name,
        stage=CANCELLED if production.state == "cancel" else production.state,
        progress=int(production.progress * 100),
        eta=finish.date() if finish is not None else None,
        reported_at=reported_at,
    )


def poll(
    odoo: Odoo,
    cursor_text: str | None,
    *,
    limit: int,
    overlap: int,
    zone: ZoneInfo = TEHRAN,
) -> PollResult:
    """One poll: the changed MOs of known orders as events, and the new cursor."""
    changes = odoo.manufacturing.poll_productions(
        PollCursor.from_json(cursor_text), limit=limit, overlap_seconds=overlap
    )
    reported_at = parse_datetime(changes.cursor.write_date)
    orders = odoo.sales.references(p.origin for p in changes.items if p.origin)
    events: list[InboundEvent] = []
    for production in changes.items:
        order_id = orders.get(production.origin or "")
        if order_id is None:
            continue
        try:
            made = report(production, order_id, reported_at, zone)
        except ValidationError:
            log.warning(
                "manufacturing order %s cannot be reported (reference %r): passed over",
                production.name,
                order_id,
            )
            continue
        event_id = (
            f"odoo-mrp:{production.production_id}:{changes.cursor.write_date}:"
            f"{_fingerprint(production)}"
        )
        events.append(made.event(event_id))
    return PollResult(events=events, cursor=changes.cursor.to_json(), more=changes.has_more)


__all__ = ["poll", "report"]

"""The ``tryton`` backend: poll Tryton's productions with a saved cursor.

Tryton cannot push, so the scheduler calls :func:`poll` every ``poll_interval_seconds``;
:meth:`erp.tryton.manufacturing.Manufacturing.changed` reads the productions changed since
the cursor (its module says why the cursor keeps fingerprints). The event id holds the
production, its change time and the fingerprint, so core stores a change once however
often it is read, and a restart resumes from the saved cursor.

Only productions made for a sale line with a ``reference`` count (the finance plugin
creates ERP sales with the CRM id of the pro-forma or order as reference); productions
for stock or for other sales are passed over. A production whose order the CRM does
not know yet is still an event: the inbox keeps it pending and retries it (see
:func:`plugins.production.mapping.apply_report`), so the cursor never moves past it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from core.plugin_types import InboundEvent, PollResult
from erp.tryton import Tryton
from erp.tryton.manufacturing import (
    ProductionCursor,
    changed_at,
    production_fingerprint,
    sale_line_of,
)
from plugins.production.mapping import WorkOrderReport

log = logging.getLogger(__name__)

#: Progress (percent) Tryton's production states stand for; Tryton keeps no progress.
STATE_PROGRESS = {
    "request": 0,
    "draft": 0,
    "waiting": 10,
    "assigned": 30,
    "running": 60,
    "done": 100,
    "cancelled": 0,
}


def report(row: Mapping[str, Any], order_id: str) -> WorkOrderReport:
    """The canonical report of one production row."""
    state = str(row["state"])
    eta = row.get("effective_date") or row.get("planned_date")
    return WorkOrderReport(
        status_id=f"tryton-production-{row['id']}",
        order_id=order_id,
        work_order=str(row.get("number") or f"production {row['id']}"),
        stage=state,
        progress=STATE_PROGRESS.get(state, 0),
        eta=eta if isinstance(eta, dt.date) else None,
        reported_at=changed_at(row).replace(tzinfo=dt.UTC),
    )


def poll(
    tryton: Tryton,
    cursor_text: str | None,
    *,
    limit: int,
    overlap: int,
) -> PollResult:
    """One poll: the changed productions of CRM sales as events, and the new cursor.

    A sale reference that cannot be a CRM id is passed over with a warning in the log.
    """
    cursor = ProductionCursor.from_json(cursor_text)
    rows, new_cursor, more = tryton.manufacturing.changed(cursor, limit=limit, overlap=overlap)
    lines = {row["id"]: sale_line_of(row.get("origin")) for row in rows}
    orders = tryton.sales.line_references(line for line in lines.values() if line is not None)
    events: list[InboundEvent] = []
    for row in rows:
        line = lines[row["id"]]
        order_id = orders.get(line) if line is not None else None
        if not order_id:
            continue
        try:
            made = report(row, order_id)
        except ValidationError:
            log.warning("production %s cannot be reported (reference %r)", row["id"], order_id)
            continue
        stamp = changed_at(row).isoformat()
        fingerprint = production_fingerprint(row)
        events.append(made.event(f"tryton-production:{row['id']}:{stamp}:{fingerprint}"))
    return PollResult(events=events, cursor=new_cursor.to_json(), more=more)


__all__ = ["STATE_PROGRESS", "poll", "report"]

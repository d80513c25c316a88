"""From an ERP's work order to canonical production statuses and the order's promised date.

Every backend turns what its ERP reports into one :class:`WorkOrderReport` (the payload
of a ``production_status`` inbound event), and :func:`apply_report` applies it the same
way whatever the source:

1. The order is found by the reference the ERP holds (``order_id`` of the report): the
   CRM order of that id, else the order made from the pro-forma of that id
   (``Order.proforma_id``; the finance plugin writes the pro-forma id on the ERP's sale,
   and an approved pro-forma becomes an order with another id). When neither exists yet
   the event stays in the inbox with a ``TransientError`` naming the reference and the
   work order: it is retried (the order may arrive later, or the pro-forma be approved)
   and given up, dead with that reason, after the engine's ``max_attempts``.
2. The work order's ``production_status`` record (id ``status_id``, derived from the
   ERP's own id of the work order) is created or updated. A report older than the one
   stored (``reported_at``) is ignored, so the record never goes back in time.
3. The order's promise is recomputed. **Rule: ``promised_date`` is the latest ETA of
   the order's work orders that are not cancelled** (the order is ready when its last
   work order is). Work orders without an ETA do not count; when no work order has an
   ETA, the promise is left as it is.
4. When the promise changes, the order is updated and ``order.promise_changed`` is
   published on the order's timeline, with ``old`` and ``new`` dates, the ``work_order``
   whose report changed it and a ``reason``; plugins subscribe to it as
   ``event.order.promise_changed``.

Steps 2 to 4 derive from stored state, so applying a report again (a retry after a crash
half-way) converges to the same records and announces a promise change at most once
per actual change.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from core.errors import PermanentError, TransientError
from core.plugin_types import InboundEvent, Records
from core.schemas.base import RecordId
from core.schemas.sales import ProductionStatus, SalesOrder

#: The inbound event type every backend produces.
EVENT_TYPE = "production_status"
#: The event announcing a new promised date, published on the order's timeline.
PROMISE_CHANGED = "order.promise_changed"
#: The event recorded on a work order's own timeline when its status changes.
STATUS_CHANGED = "production.status_changed"
#: The stage of a work order that no longer counts for the promise.
CANCELLED = "cancelled"


class WorkOrderReport(BaseModel):
    """What an ERP says about one work order: the ``data`` of an inbound status document.

    ``status_id`` is the id of the canonical ``production_status`` record, derived from
    the ERP's own id of the work order so the same work order always lands on the same
    record; ``work_order`` is its human number; ``stage`` the ERP's stage name
    (``cancelled`` stops it counting for the promise); ``progress`` 0-100; ``eta`` the
    date the goods are (expected to be) finished; ``reported_at`` when the ERP recorded
    this state; ``reason`` an optional human explanation of a new ETA.
    """

    model_config = ConfigDict(extra="forbid")

    status_id: RecordId
    order_id: RecordId
    work_order: str = Field(min_length=1, max_length=200)
    stage: str = Field(min_length=1, max_length=200)
    progress: int = Field(default=0, ge=0, le=100)
    eta: date | None = None
    reported_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=2000)

    def event(self, event_id: str) -> InboundEvent:
        """The report as an inbound event with the sender's ``event_id``."""
        return InboundEvent(
            event_id=event_id,
            type=EVENT_TYPE,
            payload=self.model_dump(mode="json"),
            occurred_at=self.reported_at,
        )


def report_from_event(event: InboundEvent) -> WorkOrderReport:
    """Validate an inbound event's payload; a malformed one is a PermanentError."""
    if event.type != EVENT_TYPE:
        raise PermanentError(f"the production plugin does not apply {event.type!r} events")
    try:
        return WorkOrderReport.model_validate(event.payload)
    except ValidationError as error:
        raise PermanentError(f"event {event.event_id}: {error}") from None


def _status(records: Records, status_id: str) -> ProductionStatus | None:
    stored = records.get("production_status", status_id)
    if stored is None:
        return None
    assert isinstance(stored.data, ProductionStatus)
    return stored.data


def promised_date(statuses: list[ProductionStatus]) -> date | None:
    """The promise rule: the latest ETA among work orders that are not cancelled."""
    etas = [s.eta for s in statuses if s.eta is not None and s.stage != CANCELLED]
    return max(etas, default=None)


def _reason(report: WorkOrderReport, previous: ProductionStatus | None) -> str:
    if report.reason:
        return report.reason
    if previous is None:
        return f"first report of work order {report.work_order} ({report.stage})"
    if previous.stage != report.stage:
        return f"work order {report.work_order} moved from {previous.stage} to {report.stage}"
    if previous.eta != report.eta:
        return f"work order {report.work_order} expects to finish on {report.eta}"
    return f"work order {report.work_order} reported {report.stage}"


def _is_older(report: WorkOrderReport, previous: ProductionStatus | None) -> bool:
    if previous is None or previous.reported_at is None or report.reported_at is None:
        return False
    return report.reported_at < previous.reported_at


def find_order(records: Records, reference: str) -> tuple[str, SalesOrder] | None:
    """The CRM order ``reference`` names: the order of that id, else the one of that pro-forma."""
    stored = records.get("order", reference)
    if stored is not None:
        assert isinstance(stored.data, SalesOrder)
        return stored.id, stored.data
    for found in records.find("order", "proforma_id", reference):
        assert isinstance(found.data, SalesOrder)
        return found.id, found.data
    return None


def apply_report(records: Records, report: WorkOrderReport) -> date | None:
    """Apply one work-order report (see the module docstring); return the order's promise."""
    found = find_order(records, report.order_id)
    if found is None:
        raise TransientError(
            f"there is no CRM order {report.order_id!r} nor an order made from a pro-forma "
            f"of that id for work order {report.work_order} (yet)"
        )
    order_id, order = found
    report = report.model_copy(update={"order_id": order_id})
    previous = _status(records, report.status_id)
    if previous is not None and previous.order_id != report.order_id:
        raise PermanentError(
            f"work order {report.work_order} ({report.status_id}) belongs to order "
            f"{previous.order_id}, not {report.order_id}"
        )
    if not _is_older(report, previous):
        changes: dict[str, Any] = {
            "order_id": report.order_id,
            "work_order": report.work_order,
            "stage": report.stage,
            "progress": report.progress,
            "eta": report.eta,
            "reported_at": report.reported_at,
        }
        records.update(
            "production_status", report.status_id, changes, event=STATUS_CHANGED, create=True
        )
    statuses = [
        record.data
        for record in records.find("production_status", "order_id", report.order_id)
        if isinstance(record.data, ProductionStatus)
    ]
    new = promised_date(statuses)
    if new is None or new == order.promised_date:
        return order.promised_date
    old = order.promised_date
    records.update("order", report.order_id, {"promised_date": new})
    records.emit(
        PROMISE_CHANGED,
        "order",
        report.order_id,
        {
            "old": old.isoformat() if old is not None else None,
            "new": new.isoformat(),
            "work_order": report.work_order,
            "production_status_id": report.status_id,
            "reason": _reason(report, previous),
        },
    )
    return new


__all__ = [
    "CANCELLED",
    "EVENT_TYPE",
    "PROMISE_CHANGED",
    "STATUS_CHANGED",
    "WorkOrderReport",
    "apply_report",
    "promised_date",
    "report_from_event",
]

"""The ``tryton`` backend: poll Tryton's productions with a saved cursor.

Tryton cannot push, so the scheduler calls :func:`poll` every ``poll_interval_seconds``.
A production's change time is its ``write_date`` (or ``create_date`` before its first
write). A plain "changed after the cursor" would lose changes in Tryton:

- several productions written in one transaction share one timestamp, and on SQLite
  the timestamp has whole seconds, so two changes of one production can share it too;
- the timestamp is taken when the writing transaction runs, not when it commits, so a
  long transaction can commit rows older than a cursor that has moved past them.

So, as the Odoo backend does, each poll reads every production changed since the
cursor minus ``overlap_seconds``, and the cursor remembers a fingerprint (change time
and the values we use) of every production it handed out within that window: a
production read again unchanged is skipped, any other is handed out. The event id
holds the production, its change time and the fingerprint, so core stores a change
once however often it is read, and a restart resumes from the saved cursor.

Only productions made for a sale line count, and only when that sale's ``reference`` is
the id of an order the CRM knows (the finance plugin creates ERP sales with the CRM id
as reference); productions for stock or for other sales are passed over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from core.connectors.tryton import TrytonClient
from core.plugin_types import InboundEvent, PollResult, Records
from plugins.production.mapping import WorkOrderReport

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
_FIELDS = [
    "number",
    "state",
    "origin",
    "planned_date",
    "effective_date",
    "write_date",
    "create_date",
]
_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class TrytonCursor:
    """Where the last poll stopped: newest change time handed out and the recent fingerprints.

    ``at`` is a naive UTC datetime, as Tryton stores them; ``seen`` maps a production id
    to ``(change time, fingerprint)`` for productions handed out within the overlap window.
    """

    at: dt.datetime = _EPOCH
    seen: Mapping[int, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The cursor as JSON, to store between polls."""
        return json.dumps(
            {
                "at": self.at.isoformat(),
                "seen": {str(key): list(value) for key, value in sorted(self.seen.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> TrytonCursor:
        """Rebuild a saved cursor; None (never polled) starts from the beginning."""
        if not text:
            return cls()
        data = json.loads(text)
        seen = {int(key): (str(value[0]), str(value[1])) for key, value in data["seen"].items()}
        return cls(at=dt.datetime.fromisoformat(data["at"]), seen=seen)


def _changed_at(row: Mapping[str, Any]) -> dt.datetime:
    stamp = row.get("write_date") or row.get("create_date")
    return stamp if isinstance(stamp, dt.datetime) else _EPOCH


def _fingerprint(row: Mapping[str, Any]) -> str:
    values = [str(row.get(name)) for name in _FIELDS if name not in ("write_date", "create_date")]
    return hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:16]


def _sale_line(origin: Any) -> int | None:
    if isinstance(origin, str) and origin.startswith("sale.line,"):
        return int(origin.split(",", 1)[1])
    return None


def _changed_rows(
    client: TrytonClient, cursor: TrytonCursor, *, limit: int, overlap: int
) -> tuple[list[dict[str, Any]], TrytonCursor, bool]:
    """Productions changed since ``cursor``, oldest first, at most ``limit`` of them."""
    start = cursor.at - dt.timedelta(seconds=overlap)
    rows = client.search_read(
        "production",
        [
            ("origin", "like", "sale.line,%"),
            [
                "OR",
                ("write_date", ">=", start),
                [("write_date", "=", None), ("create_date", ">=", start)],
            ],
        ],
        _FIELDS,
        context={"active_test": False},
    )
    rows.sort(key=lambda row: (_changed_at(row), int(row["id"])))
    seen = dict(cursor.seen)
    newest = cursor.at
    changed: list[dict[str, Any]] = []
    more = False
    for row in rows:
        stamp = (_changed_at(row).isoformat(), _fingerprint(row))
        if seen.get(int(row["id"])) == stamp:
            continue
        if len(changed) >= limit:
            more = True
            break
        changed.append(row)
        seen[int(row["id"])] = stamp
        newest = max(newest, _changed_at(row))
    keep_from = (newest - dt.timedelta(seconds=overlap)).isoformat()
    kept = {key: value for key, value in seen.items() if value[0] >= keep_from}
    return changed, TrytonCursor(at=newest, seen=kept), more


def _order_ids(client: TrytonClient, line_ids: Sequence[int]) -> dict[int, str | None]:
    """The sale ``reference`` (the CRM order id) of each sale line."""
    lines = client.read("sale.line", sorted(set(line_ids)), ["sale"])
    sale_ids = sorted({int(line["sale"]) for line in lines if line.get("sale")})
    rows = client.read("sale.sale", sale_ids, ["reference"])
    sales = {int(row["id"]): row.get("reference") for row in rows}
    return {
        int(line["id"]): sales.get(int(line["sale"])) if line.get("sale") else None
        for line in lines
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
        reported_at=_changed_at(row).replace(tzinfo=dt.UTC),
    )


def poll(
    client: TrytonClient,
    cursor_text: str | None,
    records: Records | None,
    *,
    limit: int,
    overlap: int,
) -> PollResult:
    """One poll: the changed productions of known orders as events, and the new cursor.

    A sale reference that cannot be a CRM id, or names no order the CRM holds, is
    passed over (``records`` None skips that last check).
    """
    cursor = TrytonCursor.from_json(cursor_text)
    rows, new_cursor, more = _changed_rows(client, cursor, limit=limit, overlap=overlap)
    lines = {row["id"]: _sale_line(row.get("origin")) for row in rows}
    orders = _order_ids(client, [line for line in lines.values() if line is not None])
    events: list[InboundEvent] = []
    for row in rows:
        line = lines[row["id"]]
        order_id = orders.get(line) if line is not None else None
        if not order_id:
            continue
        try:
            made = report(row, order_id)
        except ValidationError:
            continue
        if records is not None and records.get("order", order_id) is None:
            continue
        stamp = _changed_at(row).isoformat()
        events.append(made.event(f"tryton-production:{row['id']}:{stamp}:{_fingerprint(row)}"))
    return PollResult(events=events, cursor=new_cursor.to_json(), more=more)


__all__ = ["STATE_PROGRESS", "TrytonCursor", "poll", "report"]

"""Manufacturing in Tryton: productions made for sale lines, read and polled with a cursor.

A production's change time is its ``write_date`` (or ``create_date`` before its first
write). A plain "changed after the cursor" would lose changes in Tryton:

- several productions written in one transaction share one timestamp, and on SQLite
  the timestamp has whole seconds, so two changes of one production can share it too;
- the timestamp is taken when the writing transaction runs, not when it commits, so a
  long transaction can commit rows older than a cursor that has moved past them.

So each poll reads every production changed since the cursor minus ``overlap`` seconds,
and the cursor remembers a fingerprint (change time and the values read) of every
production it handed out within that window: a production read again unchanged is
skipped, any other is handed out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from erp.tryton.client import TrytonClient
from erp.tryton.sales import Sales
from erp.tryton.values import origin_id, to_decimal

__all__ = [
    "Manufacturing",
    "ProductionCursor",
    "ProductionStatus",
    "changed_at",
    "production_fingerprint",
    "sale_line_of",
]

_PRODUCTION_FIELDS = [
    "number",
    "state",
    "product",
    "quantity",
    "origin",
    "planned_start_date",
    "planned_date",
    "effective_start_date",
    "effective_date",
]
_POLL_FIELDS = [
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
class ProductionStatus:
    """A production order made for a sale line, with its dates.

    ``eta`` is when the goods are (or are expected to be) finished: the effective date
    once done, else the planned date.
    """

    id: int
    number: str | None
    state: str
    product_id: int | None
    quantity: Decimal
    sale_line_id: int | None
    planned_start_date: date | None
    planned_date: date | None
    effective_start_date: date | None
    effective_date: date | None

    @property
    def eta(self) -> date | None:
        """The date the production finished, or the date it is planned to."""
        return self.effective_date or self.planned_date


@dataclass(frozen=True)
class ProductionCursor:
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
    def from_json(cls, text: str | None) -> ProductionCursor:
        """Rebuild a saved cursor; None (never polled) starts from the beginning."""
        if not text:
            return cls()
        data = json.loads(text)
        seen = {int(key): (str(value[0]), str(value[1])) for key, value in data["seen"].items()}
        return cls(at=dt.datetime.fromisoformat(data["at"]), seen=seen)


def changed_at(row: Mapping[str, Any]) -> dt.datetime:
    """A production's change time: its ``write_date``, or ``create_date`` before any write."""
    stamp = row.get("write_date") or row.get("create_date")
    return stamp if isinstance(stamp, dt.datetime) else _EPOCH


def production_fingerprint(row: Mapping[str, Any]) -> str:
    """A digest of the values polled (not the change times), to tell a real change."""
    values = [
        str(row.get(name)) for name in _POLL_FIELDS if name not in ("write_date", "create_date")
    ]
    return hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:16]


def sale_line_of(origin: Any) -> int | None:
    """The sale line id of a production's ``origin`` (``sale.line,<id>``), else None."""
    if isinstance(origin, str) and origin.startswith("sale.line,"):
        return int(origin.split(",", 1)[1])
    return None


class Manufacturing:
    """Read the productions of a sale, and poll the productions of sale lines."""

    def __init__(self, client: TrytonClient, sales: Sales) -> None:
        self.client = client
        self.sales = sales

    def productions(self, sale_id: int) -> tuple[ProductionStatus, ...]:
        """Read the productions made for the sale's lines, oldest first."""
        sale = self.sales.sale(sale_id)
        if not sale.lines:
            return ()
        rows = self.client.search_read(
            "production",
            [("origin", "in", [f"sale.line,{line.id}" for line in sale.lines])],
            _PRODUCTION_FIELDS,
            order=[("id", "ASC")],
        )
        return tuple(
            ProductionStatus(
                id=row["id"],
                number=row["number"],
                state=row["state"],
                product_id=row["product"],
                quantity=to_decimal(row["quantity"]),
                sale_line_id=origin_id(row["origin"], "sale.line"),
                planned_start_date=row["planned_start_date"],
                planned_date=row["planned_date"],
                effective_start_date=row["effective_start_date"],
                effective_date=row["effective_date"],
            )
            for row in rows
        )

    def changed(
        self, cursor: ProductionCursor, *, limit: int, overlap: int
    ) -> tuple[list[dict[str, Any]], ProductionCursor, bool]:
        """Productions of sale lines changed since ``cursor``, oldest first, at most ``limit``.

        Returns the rows, the cursor to save after applying them, and whether more wait.
        """
        start = cursor.at - dt.timedelta(seconds=overlap)
        rows = self.client.search_read(
            "production",
            [
                ("origin", "like", "sale.line,%"),
                [
                    "OR",
                    ("write_date", ">=", start),
                    [("write_date", "=", None), ("create_date", ">=", start)],
                ],
            ],
            _POLL_FIELDS,
            context={"active_test": False},
        )
        rows.sort(key=lambda row: (changed_at(row), int(row["id"])))
        seen = dict(cursor.seen)
        newest = cursor.at
        changed: list[dict[str, Any]] = []
        more = False
        for row in rows:
            stamp = (changed_at(row).isoformat(), production_fingerprint(row))
            if seen.get(int(row["id"])) == stamp:
                continue
            if len(changed) >= limit:
                more = True
                break
            changed.append(row)
            seen[int(row["id"])] = stamp
            newest = max(newest, changed_at(row))
        keep_from = (newest - dt.timedelta(seconds=overlap)).isoformat()
        kept = {key: value for key, value in seen.items() if value[0] >= keep_from}
        return changed, ProductionCursor(at=newest, seen=kept), more

"""Reading what changed in Odoo since the last poll, each change exactly once.

:func:`poll_changes` reads the records of one model changed since a saved
:class:`PollCursor`; its docstring says why ``write_date`` alone is not a safe cursor.
The business rooms (invoices, stock, manufacturing) poll their own models through it
and hand out :class:`Changes` of their own documents.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from erp.odoo.client import OdooClient
from erp.odoo.values import ODOO_DATETIME_FORMAT

__all__ = ["Changes", "PollBatch", "PollCursor", "poll_changes"]

T = TypeVar("T")


@dataclass(frozen=True)
class PollCursor:
    """Where the last poll of one model stopped; save it with :meth:`to_json` after each batch.

    ``write_date`` is the newest ``write_date`` already handed out (Odoo's UTC string).
    ``seen`` maps the id of every record handed out whose ``write_date`` lies within the
    overlap window ending at ``write_date`` to ``[write_date, fingerprint]`` of what was
    handed out, so a record read again unchanged is skipped and a changed one is not.
    """

    write_date: str = "1970-01-01 00:00:00"
    seen: Mapping[int, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        """Return the cursor as a JSON string to store between runs."""
        return json.dumps(
            {
                "write_date": self.write_date,
                "seen": {str(key): list(value) for key, value in sorted(self.seen.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> PollCursor:
        """Rebuild a cursor saved with :meth:`to_json`; None or empty starts from the beginning."""
        if not text:
            return cls()
        data = json.loads(text)
        seen = {int(key): (str(value[0]), str(value[1])) for key, value in data["seen"].items()}
        return cls(write_date=str(data["write_date"]), seen=seen)


@dataclass(frozen=True)
class PollBatch:
    """One poll's changed records, oldest first, and the cursor to save after applying them.

    ``has_more`` says more changes are waiting: poll again at once.
    """

    records: list[dict[str, Any]]
    cursor: PollCursor
    has_more: bool


@dataclass(frozen=True)
class Changes(Generic[T]):
    """What one poll found: the changed documents, the cursor to save, and whether more wait."""

    items: list[T]
    cursor: PollCursor
    has_more: bool


def _fingerprint(record: Mapping[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def poll_changes(
    client: OdooClient,
    model: str,
    fields: Sequence[str],
    cursor: PollCursor,
    *,
    domain: Sequence[Any] = (),
    limit: int = 200,
    overlap_seconds: int = 60,
    context: Mapping[str, Any] | None = None,
) -> PollBatch:
    """Return the records of ``model`` changed since ``cursor``, each change exactly once.

    Records are read with ``write_date >= cursor.write_date - overlap_seconds``, ordered by
    ``write_date, id``. A plain ``write_date > cursor`` (or even ``(write_date, id) >
    cursor``) would lose changes in Odoo:

    - many records share one timestamp (every record written in one transaction gets
      the transaction's start time), and a batch limit can cut through them;
    - Odoo reads ``write_date`` to the second but stores a finer time, so a record read
      as ``10:00:00`` still matches ``write_date > '10:00:00'``; its id order within that
      second says nothing, and a second change within the same second keeps the same
      visible ``write_date``;
    - ``write_date`` is the time the writing transaction *started*: a long transaction
      commits rows older than the cursor after a poll has moved past them.

    So the cursor remembers a fingerprint of every record it handed out within the
    overlap window: a record read again with the same ``write_date`` and the same values
    is skipped, anything else is handed out. The query limit is ``limit`` plus the number
    of remembered records, so skipped rows never stall progress. ``overlap_seconds``
    bounds how late a commit may arrive and still be seen (0 still handles shared
    timestamps); a larger window costs re-reading more unchanged rows each poll.
    """
    read_fields = sorted({*fields, "write_date"})
    window_start = _shift(cursor.write_date, -overlap_seconds)
    query_limit = limit + len(cursor.seen)
    rows = client.search_read(
        model,
        [("write_date", ">=", window_start), *domain],
        read_fields,
        order="write_date asc, id asc",
        limit=query_limit,
        context=context,
    )
    seen: dict[int, tuple[str, str]] = dict(cursor.seen)
    newest = cursor.write_date
    changed: list[dict[str, Any]] = []
    for row in rows:
        record_id = int(row["id"])
        stamp = (str(row["write_date"]), _fingerprint(row))
        if seen.get(record_id) != stamp:
            changed.append(row)
        seen[record_id] = stamp
        newest = max(newest, stamp[0])
    keep_from = _shift(newest, -overlap_seconds)
    kept = {key: value for key, value in seen.items() if value[0] >= keep_from}
    return PollBatch(
        records=changed,
        cursor=PollCursor(write_date=newest, seen=kept),
        has_more=len(rows) >= query_limit,
    )


def _shift(stamp: str, seconds: int) -> str:
    moment = dt.datetime.strptime(stamp, ODOO_DATETIME_FORMAT) + dt.timedelta(seconds=seconds)
    return moment.strftime(ODOO_DATETIME_FORMAT)

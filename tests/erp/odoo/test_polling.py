"""The write_date poll cursor against recorded Odoo answers."""

from __future__ import annotations

import datetime as dt

from erp.odoo.polling import PollCursor, poll_changes
from tests.erp.odoo.replay import recorded

UTC = dt.UTC


def test_polling_hands_out_every_change_once_when_timestamps_are_shared() -> None:
    handed_out: list[tuple[int, str]] = []
    cursor = PollCursor()
    with recorded("polling.json", "shared_timestamps") as odoo:
        more = []
        for _ in range(5):
            batch = poll_changes(
                odoo.client, "sale.order", ["state"], cursor, limit=2, overlap_seconds=0
            )
            handed_out.extend((row["id"], row["state"]) for row in batch.records)
            more.append(batch.has_more)
            cursor = PollCursor.from_json(batch.cursor.to_json())
    assert handed_out == [
        (5, "draft"),
        (3, "draft"),
        (9, "sent"),
        (4, "draft"),
        (3, "sale"),
        (3, "cancel"),
    ]
    assert more == [True, True, False, False, False]
    assert cursor.write_date == "2024-05-14 10:00:01"
    assert sorted(cursor.seen) == [3, 4]


def test_polling_overlap_catches_a_late_commit() -> None:
    handed_out: list[int] = []
    cursor = PollCursor()
    with recorded("polling.json", "late_commit_overlap") as odoo:
        for _ in range(3):
            batch = poll_changes(odoo.client, "sale.order", ["state"], cursor, overlap_seconds=60)
            handed_out.extend(row["id"] for row in batch.records)
            cursor = batch.cursor
    assert handed_out == [10, 11]
    assert cursor.write_date == "2024-05-14 10:00:05"


def test_cursor_survives_a_restart_as_json() -> None:
    cursor = PollCursor(write_date="2024-05-14 10:00:01", seen={4: ("2024-05-14 10:00:01", "ab")})
    assert PollCursor.from_json(cursor.to_json()) == cursor
    assert PollCursor.from_json(None) == PollCursor()

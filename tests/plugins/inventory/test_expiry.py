"""Which reservations a poll releases for expiry, whatever the ERP did with them.

The Tryton test releases an expired reservation end to end; this one checks the choice
itself on the ERP backends' shared helper: every reservation not yet released whose
``expires_at`` has passed, found through the records facade, each expiry once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from core.sync.runtime import SyncRuntime
from plugins.inventory.backends import Watch, expired_reservations
from plugins.inventory.mapping import RESERVATION_EXPIRED
from tests.plugins.inventory.conftest import PLUGIN, put

ODOO = {
    "backend": "odoo",
    "odoo": {
        "url": "http://odoo.test",
        "database": "crm",
        "login": "sync@example.com",
        "api_key": "key-123",
        "version": 17,
    },
}


def reservation(status: str, expires_at: datetime | None) -> dict[str, Any]:
    return {
        "order_id": "so-1",
        "lines": [{"product_id": "p-1", "quantity": "2"}],
        "status": status,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def test_every_held_reservation_past_its_expiry_is_released_once(
    make_inventory: Callable[[dict[str, Any]], SyncRuntime],
) -> None:
    runtime = make_inventory(ODOO)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    past, future = now - timedelta(minutes=1), now + timedelta(minutes=1)
    put(runtime, "reservation", "held", reservation("reserved", past))
    put(runtime, "reservation", "partial", reservation("partial", past))
    put(runtime, "reservation", "waiting", reservation("unavailable", now))
    put(runtime, "reservation", "asked", reservation("requested", past))
    put(runtime, "reservation", "later", reservation("reserved", future))
    put(runtime, "reservation", "open-ended", reservation("reserved", None))
    put(runtime, "reservation", "gone", reservation("released", past))
    context = runtime.host.context(PLUGIN)

    # "held" is also on the watch list of an earlier poll: it is reported once.
    watch = Watch(expiring={"held": past.isoformat()})
    events = expired_reservations(context, watch, now)
    assert sorted(event.payload["reservation_id"] for event in events) == [
        "asked",
        "held",
        "partial",
        "waiting",
    ]
    assert {event.type for event in events} == {RESERVATION_EXPIRED}
    assert watch.expiring == {}
    # Found again before the release is applied: the same event ids, stored once.
    again = expired_reservations(context, Watch(), now)
    assert sorted(e.event_id for e in again) == sorted(e.event_id for e in events)

"""The odoo backend against recorded JSON-RPC exchanges (Odoo cannot be installed here).

The recordings in ``odoo_recordings/productions.json`` follow Odoo's documented External
API; they are replayed strictly, in order, by the harness of the Odoo connector tests.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.db.inbound_tables import InboxEvent
from core.errors import TransientError
from core.kinds import KINDS_BY_TYPE
from core.store import get_record, timeline, write_record
from core.sync.inbound import load_cursor
from core.sync.runtime import SyncRuntime
from core.sync.scheduler import poll_once
from core.testing.odoo_replay import URL, Replay
from plugins.production.settings import ProductionSettings
from tests.plugins.production.conftest import order

RECORDINGS = Path(__file__).parent / "odoo_recordings" / "productions.json"


def odoo_settings(version: int) -> dict[str, Any]:
    return {
        "backend": "odoo",
        "odoo": {
            "url": URL,
            "database": "crm",
            "login": "sync@example.com",
            "api_key": "key-123",
            "version": version,
        },
    }


def runtime_for(
    make_production: Callable[..., SyncRuntime], flow: str
) -> tuple[SyncRuntime, Replay]:
    replay = Replay(RECORDINGS, flow)
    runtime = make_production(odoo_settings(replay.version), httpx.MockTransport(replay))
    return runtime, replay


def apply_all(runtime: SyncRuntime) -> None:
    with runtime.engine.connect() as connection:
        ids = list(connection.execute(select(InboxEvent.id)).scalars())
    runtime.inbound.process("production", ids)


def data(runtime: SyncRuntime, type_: str, record_id: str) -> dict[str, Any]:
    stored = get_record(runtime.engine, KINDS_BY_TYPE[type_], record_id)
    assert stored is not None
    return stored.data


def test_manufacturing_orders_set_the_promise_and_the_next_poll_resumes(
    make_production: Callable[..., SyncRuntime],
) -> None:
    runtime, replay = runtime_for(make_production, "poll_v16")
    order(runtime, "so-1", promised=dt.date(2024, 5, 15))
    first = poll_once(runtime, "production")
    replay.assert_done()
    assert (first.stored, first.more) == (1, False)
    apply_all(runtime)
    status = data(runtime, "production_status", "odoo-mrp-12")
    assert (status["work_order"], status["stage"], status["progress"], status["eta"]) == (
        "WH/MO/00012",
        "progress",
        40,
        "2024-05-20",
    )
    assert data(runtime, "order", "so-1")["promised_date"] == "2024-05-20"
    assert json.loads(load_cursor(runtime.engine, "production") or "")["write_date"] == (
        "2024-05-15 12:00:01"
    )

    restarted, replay = runtime_for(make_production, "poll_v16_next")
    second = poll_once(restarted, "production")
    replay.assert_done()
    assert (second.stored, second.duplicates) == (2, 0)
    apply_all(restarted)
    assert data(restarted, "production_status", "odoo-mrp-12")["stage"] == "done"
    assert data(restarted, "production_status", "odoo-mrp-15")["stage"] == "cancelled"
    assert data(restarted, "order", "so-1")["promised_date"] == "2024-05-19"
    promises = [
        (event.data["payload"]["old"], event.data["payload"]["new"])
        for event in timeline(restarted.engine, "order", "so-1")
        if event.data["type"] == "order.promise_changed"
    ]
    assert promises == [("2024-05-15", "2024-05-20"), ("2024-05-20", "2024-05-19")]


def test_odoo_18_field_names(make_production: Callable[..., SyncRuntime]) -> None:
    runtime, replay = runtime_for(make_production, "poll_v18")
    order(runtime, "so-1")
    assert poll_once(runtime, "production").stored == 1
    replay.assert_done()
    apply_all(runtime)
    status = data(runtime, "production_status", "odoo-mrp-12")
    assert (status["stage"], status["progress"], status["eta"]) == ("done", 100, "2024-05-19")


def inbox(runtime: SyncRuntime) -> list[tuple[str, str, int, str | None]]:
    """Every inbox event as (event id prefix, state, attempts, last error), oldest first."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            select(
                InboxEvent.event_id, InboxEvent.state, InboxEvent.attempts, InboxEvent.last_error
            ).order_by(InboxEvent.id)
        ).all()
    return [(":".join(row[0].split(":")[:2]), row[1], row[2], row[3]) for row in rows]


def process_due(runtime: SyncRuntime, now: dt.datetime) -> None:
    with runtime.engine.connect() as connection:
        ids = list(connection.execute(select(InboxEvent.id)).scalars())
    runtime.inbound.process("production", ids, now=now)


def test_an_order_not_yet_known_stays_pending_in_the_inbox(
    make_production: Callable[..., SyncRuntime],
) -> None:
    runtime, replay = runtime_for(make_production, "poll_v16")
    outcome = poll_once(runtime, "production")
    replay.assert_done()
    assert outcome.stored == 1, "MO 12 of so-1 is kept although the CRM has no so-1 yet"
    assert load_cursor(runtime.engine, "production") is not None
    apply_all(runtime)
    [(event, state, attempts, error)] = inbox(runtime)
    assert (event, state, attempts) == ("odoo-mrp:12", "failed", 1)
    assert error is not None and "so-1" in error and "WH/MO/00012" in error
    order(runtime, "so-1")
    process_due(runtime, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    assert [state for _, state, _, _ in inbox(runtime)] == ["applied"]
    assert data(runtime, "production_status", "odoo-mrp-12")["order_id"] == "so-1"


def test_the_promise_reaches_the_order_through_its_proforma(
    make_production: Callable[..., SyncRuntime],
) -> None:
    runtime, replay = runtime_for(make_production, "poll_v17_proforma")
    kind = KINDS_BY_TYPE["order"]
    order(runtime, "so-9")
    stored = get_record(runtime.engine, kind, "so-9")
    assert stored is not None
    body = {**stored.data, "proforma_id": "pf-7"}
    write_record(runtime.engine, kind, "so-9", kind.schema.model_validate(body), subscribers=())
    assert poll_once(runtime, "production").stored == 2
    replay.assert_done()
    apply_all(runtime)
    assert [state for _, state, _, _ in inbox(runtime)] == ["applied", "applied"]
    status = data(runtime, "production_status", "odoo-mrp-21")
    assert (status["order_id"], status["work_order"]) == ("so-9", "WH/MO/00021")
    late = data(runtime, "production_status", "odoo-mrp-22")
    assert late["eta"] == "2024-05-22", "21:00 UTC on the 21st is already the 22nd in Tehran"
    assert data(runtime, "order", "so-9")["promised_date"] == "2024-05-22"


def test_the_eta_follows_the_configured_zone(
    make_production: Callable[..., SyncRuntime],
) -> None:
    replay = Replay(RECORDINGS, "poll_v17_proforma")
    settings = {**odoo_settings(17), "time_zone": "UTC"}
    runtime = make_production(settings, httpx.MockTransport(replay))
    order(runtime, "pf-7")
    poll_once(runtime, "production")
    apply_all(runtime)
    assert data(runtime, "production_status", "odoo-mrp-22")["eta"] == "2024-05-21"


def test_an_unknown_zone_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="time_zone"):
        ProductionSettings.model_validate({**odoo_settings(17), "time_zone": "Mars/Olympus"})


def test_an_order_that_never_comes_is_given_up_with_the_reason(
    make_production: Callable[..., SyncRuntime],
) -> None:
    runtime, replay = runtime_for(make_production, "poll_v17_proforma")
    poll_once(runtime, "production")
    replay.assert_done()
    later = dt.datetime.now(dt.UTC)
    for _ in range(6):
        later += dt.timedelta(minutes=5)
        process_due(runtime, later)
    events = inbox(runtime)
    assert [(event, state) for event, state, _, _ in events] == [
        ("odoo-mrp:21", "dead"),
        ("odoo-mrp:22", "dead"),
    ]
    reason = events[0][3]
    assert reason is not None and reason.startswith("gave up after 4 attempts")
    assert "pf-7" in reason and "WH/MO/00021" in reason


def test_odoo_down_moves_no_cursor(make_production: Callable[..., SyncRuntime]) -> None:
    runtime, replay = runtime_for(make_production, "down")
    with pytest.raises(TransientError):
        poll_once(runtime, "production")
    replay.assert_done()
    assert load_cursor(runtime.engine, "production") is None

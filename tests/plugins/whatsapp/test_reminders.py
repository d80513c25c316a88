"""SLA and follow-up reminders to agents, as templates through the Cloud API double.

The SLA timers publish ``lead.first_response_due_soon``, ``lead.first_response_overdue``
and ``task.overdue``; the plugin is subscribed to all three and sends the owner a
configured template, once, through the same outbound path as customers' messages, or
passes the event with the reason it did not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.api.app import create_app
from core.db.inbound_tables import InboxEvent
from core.db.sync_tables import SyncState
from core.sync.runtime import SyncRuntime
from core.testing import whatsapp as meta
from core.testing.whatsapp_api import CloudApi
from lead_scoring.assignment.service import RULES_ENV, AssignmentService
from lead_scoring.assignment.statements import FIRST_RESPONSE_WARNING
from lead_scoring.assignment.tables import Timer
from lead_scoring.sla import create_followup, fire_due
from tests.core.api.conftest import TestClient
from tests.plugins.whatsapp.conftest import TOKEN, apply_all, drain, post, put

AGENT_PHONE = "09121110000"
LATER = timedelta(days=30)


@pytest.fixture
def make(make_whatsapp: Callable[..., SyncRuntime], api: CloudApi) -> Callable[..., SyncRuntime]:
    def build(**overrides: Any) -> SyncRuntime:
        overrides.setdefault("sla_reminder_template", "sla_breached")
        overrides.setdefault("followup_reminder_template", "followup_due")
        overrides.setdefault("sla_warning_template", "sla_due_soon")
        # One agent gets two reminders here; the pair limit is tested on its own.
        overrides.setdefault("pair_interval_seconds", 0)
        return make_whatsapp(graph_url=api.graph_url, access_token=TOKEN, **overrides)

    return build


def assigned_lead(runtime: SyncRuntime, **agent: Any) -> AssignmentService:
    """Agent A-1 (with ``agent``'s fields) owns lead L-1, whose first-response clock runs."""
    put(runtime, "agent", "A-1", {"name": "کارشناس یک", "team": "sales", **agent})
    put(runtime, "lead", "L-1", {"contact_name": "رضا رضایی", "phones": ["09351112233"]})
    drain(runtime)
    return AssignmentService.from_runtime(runtime)


def sync(runtime: SyncRuntime, rounds: int = 20) -> None:
    """Run the plugin's deliveries until none is left, at the time the timers fired.

    An event's delivery is due when the event happened: the timer's due time, which
    ``fire_due`` is asked about ahead of the wall clock.
    """
    for _ in range(rounds):
        with runtime.engine.connect() as connection:
            waiting = connection.execute(
                select(SyncState.kind, SyncState.record_id).where(
                    SyncState.plugin == "whatsapp", SyncState.state.in_(("pending", "failed"))
                )
            ).all()
        if not waiting:
            return
        refs = [(row.kind, row.record_id) for row in waiting]
        runtime.sync.process("whatsapp", refs, now=datetime.now(UTC) + LATER)
        time.sleep(0.02)


def events_delivered(runtime: SyncRuntime) -> list[Any]:
    """The plugin's deliveries of events, by event id."""
    with runtime.engine.connect() as connection:
        return list(
            connection.execute(
                select(SyncState.__table__).where(
                    SyncState.plugin == "whatsapp", SyncState.kind == "event"
                )
            )
        )


def test_a_breached_first_response_sends_the_owner_the_template_once(
    make: Any, api: CloudApi
) -> None:
    runtime = make()
    service = assigned_lead(runtime, phone=AGENT_PHONE, time_zone="Asia/Tehran")
    assert fire_due(service, now=datetime.now(UTC) + LATER) >= 1
    sync(runtime)
    (sent,) = api.sent
    assert sent.body["to"] == "+989121110000" and sent.body["type"] == "template"
    template = sent.body["template"]
    assert template["name"] == "sla_breached" and template["language"] == {"code": "fa"}
    lead_name, due = (item["text"] for item in template["components"][0]["parameters"])
    assert lead_name == "رضا رضایی"
    assert due[:2] == "۱۴" and ":" in due
    assert sent.body["biz_opaque_callback_data"].startswith("reminder:")
    (row,) = events_delivered(runtime)
    assert row.state == "synced" and row.external_id == sent.wamid
    # The timer job running again, and the event queued again, send nothing more.
    fire_due(service, now=datetime.now(UTC) + LATER)
    runtime.dispatch("whatsapp", [("event", row.record_id)])
    sync(runtime)
    assert len(api.sent) == 1


WARNING_RULES = """
[defaults]
first_response_minutes = 15
warn_before_minutes = 5

[[rules]]
name = "sales"
team = "sales"
"""


def test_a_first_response_due_soon_sends_the_owner_the_warning_template_once(
    make: Any, api: CloudApi, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(WARNING_RULES, encoding="utf-8")
    monkeypatch.setenv(RULES_ENV, str(rules))
    runtime = make(reminder_language="en")
    service = assigned_lead(runtime, phone=AGENT_PHONE, time_zone="UTC")
    with runtime.engine.connect() as connection:
        warn_at = connection.execute(
            select(Timer.due_at).where(Timer.kind == FIRST_RESPONSE_WARNING)
        ).scalar_one()
    assert fire_due(service, now=warn_at - timedelta(seconds=1)) == 0
    assert fire_due(service, now=warn_at) == 1
    sync(runtime)
    (sent,) = api.sent
    assert sent.body["to"] == "+989121110000" and sent.body["type"] == "template"
    template = sent.body["template"]
    assert template["name"] == "sla_due_soon" and template["language"] == {"code": "en"}
    lead_name, due = (item["text"] for item in template["components"][0]["parameters"])
    assert lead_name == "رضا رضایی"
    # The time given is the coming deadline (five working minutes on), not the warning's.
    assert due.endswith(f"{service.current('L-1').first_response_due_at:%H:%M}")
    # Looking at the timers again, even at the deadline, sends no second warning; the
    # breach then sends its own template.
    fire_due(service, now=warn_at)
    sync(runtime)
    assert [s.body["template"]["name"] for s in api.sent] == ["sla_due_soon"]
    fire_due(service, now=datetime.now(UTC) + LATER)
    sync(runtime)
    assert [s.body["template"]["name"] for s in api.sent] == ["sla_due_soon", "sla_breached"]


def test_a_reminder_s_status_webhook_is_accepted_without_an_interaction(
    make: Any, api: CloudApi
) -> None:
    runtime = make()
    service = assigned_lead(runtime, phone=AGENT_PHONE)
    fire_due(service, now=datetime.now(UTC) + LATER)
    sync(runtime)
    (sent,) = api.sent
    status = meta.status(
        sent.wamid, "delivered", "989121110000", callback_data=sent.body["biz_opaque_callback_data"]
    )
    with TestClient(create_app(runtime, background=False)) as client:
        assert post(client, meta.envelope(meta.statuses_value([status]))).status_code == 200
        apply_all(runtime)
    with runtime.engine.connect() as connection:
        states = {row.state for row in connection.execute(select(InboxEvent.__table__))}
    assert "failed" not in states and "dead" not in states


def test_an_overdue_follow_up_task_reminds_its_owner(make: Any, api: CloudApi) -> None:
    runtime = make(reminder_language="en")
    service = assigned_lead(runtime, phone=AGENT_PHONE, time_zone="UTC")
    due = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    task_id = create_followup(
        service, "L-1", stage="pricing", due_at=due, by="test", subject="Send the price list"
    )
    assert task_id
    fire_due(service, now=datetime.now(UTC) + LATER)
    sync(runtime)
    followups = [s for s in api.sent if s.body["template"]["name"] == "followup_due"]
    (sent,) = followups
    assert sent.body["template"]["language"] == {"code": "en"}
    parameters = [item["text"] for item in sent.body["template"]["components"][0]["parameters"]]
    assert parameters == ["Send the price list", "1405/02/11 09:30"]


@pytest.mark.parametrize(
    ("agent", "settings", "reason"),
    [
        ({}, {}, "agent A-1 has no phone number"),
        ({"phone": AGENT_PHONE}, {"sla_reminder_template": None}, "sla_reminder_template"),
        ({"phone": AGENT_PHONE, "active": False}, {}, "agent A-1 is not active"),
    ],
)
def test_a_reminder_not_sent_says_why(
    make: Any, api: CloudApi, agent: dict[str, Any], settings: dict[str, Any], reason: str
) -> None:
    runtime = make(**settings)
    service = assigned_lead(runtime, **{**agent, "active": True})
    if agent.get("active") is False:
        put(runtime, "agent", "A-1", {"name": "کارشناس یک", "team": "sales", **agent})
    fire_due(service, now=datetime.now(UTC) + LATER)
    sync(runtime)
    assert api.attempts == 0
    rows = events_delivered(runtime)
    assert rows and all(row.state == "synced" for row in rows)
    assert any(reason in (row.note or "") for row in rows), [row.note for row in rows]


def test_a_reminder_refused_by_meta_is_dead_with_the_reason(make: Any, api: CloudApi) -> None:
    runtime = make()
    service = assigned_lead(runtime, phone=AGENT_PHONE)
    api.fail(132001)
    fire_due(service, now=datetime.now(UTC) + LATER)
    sync(runtime)
    (row,) = events_delivered(runtime)
    assert row.state == "dead" and "template does not exist" in row.last_error
    assert api.sent == []

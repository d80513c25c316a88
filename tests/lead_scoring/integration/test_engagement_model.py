"""The model learns from engagement before each outcome, and nothing after it leaks in."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection

import lead_scoring.plugin as lead_scoring_plugin
from core.kinds import kind_by_type
from core.records import emit_event_in
from core.settings import Settings
from core.store import write_record_in
from core.sync.runtime import SyncRuntime
from lead_scoring.reading import load_tasks, load_timeline
from lead_scoring.service import train
from lead_scoring.settings import LeadScoringSettings
from lead_scoring.store import get_score, latest_model
from tests.lead_scoring.integration.conftest import drain, lead_data, put

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
START = NOW - timedelta(days=300)


def closed_history(runtime: SyncRuntime, *, after_outcome: bool, count: int = 160) -> None:
    """Closed leads whose WhatsApp replies before closing make them convert more often.

    With ``after_outcome``, every won lead also gets ten inbound calls after it closed
    (the customer calling about delivery): known only once the outcome was.
    """
    rng = random.Random(17)
    for number in range(count):
        lead_id = f"H-{number:03d}"
        created = START + timedelta(days=rng.uniform(0, 200))
        closed = created + timedelta(days=rng.uniform(10, 40))
        replies = rng.randrange(4)
        won = rng.random() < (0.8 if replies >= 2 else 0.15)
        body = {
            "source": rng.choice(["web", "referral"]),
            "status": "converted" if won else "lost",
            "closed_at": closed.isoformat(),
        }
        put(runtime, "lead", lead_id, body)
        for reply in range(replies):
            at = created + (closed - created) * rng.uniform(0.1, 0.9)
            interaction = {
                "lead_id": lead_id,
                "channel": "whatsapp",
                "direction": "inbound",
                "occurred_at": at.isoformat(),
            }
            put(runtime, "interaction", f"I-{number}-{reply}", interaction)
        if won and after_outcome:
            for call in range(10):
                later = closed + timedelta(hours=1 + call)
                interaction = {
                    "lead_id": lead_id,
                    "channel": "call",
                    "direction": "inbound",
                    "occurred_at": later.isoformat(),
                }
                put(runtime, "interaction", f"L-{number}-{call}", interaction)


def add_task(
    connection: Connection, task_id: str, lead_id: str, at: datetime, **fields: object
) -> None:
    """Write a task about a lead as created at ``at``."""
    kind = kind_by_type("task")
    body = {"subject": "Call back", "related_type": "lead", "related_id": lead_id, **fields}
    write_record_in(
        connection, kind, task_id, kind.schema.model_validate(body), subscribers=(), now=at
    )


def add_event(connection: Connection, type_: str, lead_id: str, at: datetime) -> None:
    """Publish an event on a lead's timeline at ``at``."""
    emit_event_in(
        connection, type_, "lead", lead_id, {}, source="core", subscribers=lambda _: [], now=at
    )


def follow_up(runtime: SyncRuntime, *, after_outcome: bool, count: int = 160) -> None:
    """Tasks and timeline events about the closed leads of ``closed_history``.

    Five days before closing, won leads had a task done and half of them a
    ``lead.demo_given`` event, and every third lost lead a task left overdue; with
    ``after_outcome``, every lead also gets, the day after it closed, a task done, a
    cancelled one and a ``lead.invoice_paid`` event (known only once the outcome was).
    """
    leads = {f"H-{number:03d}": lead_data(runtime, f"H-{number:03d}") for number in range(count)}
    with runtime.engine.begin() as connection:
        for number, (lead_id, data) in enumerate(leads.items()):
            closed = datetime.fromisoformat(data["closed_at"])
            won = data["status"] == "converted"
            before = closed - timedelta(days=5)
            due = (before + timedelta(days=2)).isoformat()
            if won:
                done = (before + timedelta(days=1)).isoformat()
                add_task(
                    connection,
                    f"T-{number}",
                    lead_id,
                    before,
                    due_at=due,
                    status="done",
                    done_at=done,
                )
                if number % 2 == 0:
                    add_event(connection, "lead.demo_given", lead_id, before)
            elif number % 3 == 0:
                add_task(connection, f"T-{number}", lead_id, before, due_at=due)
            if after_outcome:
                later = closed + timedelta(days=1)
                done = later.isoformat()
                add_task(connection, f"A-{number}", lead_id, later, status="done", done_at=done)
                add_task(connection, f"C-{number}", lead_id, later, status="cancelled", due_at=done)
                add_event(connection, "lead.invoice_paid", lead_id, later)


def trained(runtime: SyncRuntime) -> str:
    settings = runtime.host.context("lead_scoring").settings
    assert isinstance(settings, LeadScoringSettings)
    outcome = train(runtime.engine, settings, now=NOW)
    assert outcome.model is not None, outcome.reason
    stored = latest_model(runtime.engine)
    assert stored is not None
    return stored.model


def test_events_after_the_outcome_do_not_reach_the_model(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    clean = scoring_runtime(min_history=50, model_min_count=5)
    closed_history(clean, after_outcome=False)
    leaky = scoring_runtime(min_history=50, model_min_count=5)
    closed_history(leaky, after_outcome=True)
    clean_model, leaky_model = trained(clean), trained(leaky)
    assert '"events.call_answered"' not in leaky_model
    assert clean_model == leaky_model


def test_tasks_and_timeline_events_are_learned_as_known_before_the_outcome(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    clean = scoring_runtime(min_history=50, model_min_count=5)
    closed_history(clean, after_outcome=False)
    follow_up(clean, after_outcome=False)
    leaky = scoring_runtime(min_history=50, model_min_count=5)
    closed_history(leaky, after_outcome=False)
    follow_up(leaky, after_outcome=True)
    clean_model, leaky_model = trained(clean), trained(leaky)
    for feature in ("tasks", "tasks.done", "tasks.overdue", "events.timeline.lead.demo_given"):
        assert f'"name": "{feature}"' in clean_model
    assert "invoice_paid" not in leaky_model
    assert clean_model == leaky_model


def test_engagement_before_the_outcome_is_learned_and_used_on_open_leads(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    runtime = scoring_runtime(min_history=50, model_min_count=5, top_factors=1)
    closed_history(runtime, after_outcome=True)
    model = trained(runtime)
    assert '"events.whatsapp_reply"' in model
    put(runtime, "lead", "OPEN-1", {"source": "web"})
    put(runtime, "lead", "OPEN-2", {"source": "web"})
    for reply in range(3):
        at = NOW - timedelta(days=2 + reply)
        body = {
            "lead_id": "OPEN-1",
            "channel": "whatsapp",
            "direction": "inbound",
            "occurred_at": at.isoformat(),
        }
        put(runtime, "interaction", f"O-{reply}", body)
    drain(runtime)
    trained(runtime)
    engaged, quiet = get_score(runtime.engine, "OPEN-1"), get_score(runtime.engine, "OPEN-2")
    assert engaged is not None and engaged.prediction is not None
    assert quiet is not None and quiet.prediction is not None
    assert engaged.prediction.probability > 0.5 > quiet.prediction.probability
    assert engaged.prediction.factors[0]["feature"].startswith("events.whatsapp_reply")


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_tasks_and_timeline_events_are_read_for_their_leads_only(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    database: str,
) -> None:
    url = {} if database == "sqlite" else {"database_url": request.getfixturevalue("postgres_url")}
    runtime = make_runtime(make_settings(**url), {"lead_scoring": lead_scoring_plugin})
    at = START + timedelta(days=3)
    with runtime.engine.begin() as connection:
        add_task(connection, "T-1", "L-1", at, due_at=(at + timedelta(days=1)).isoformat())
        add_task(connection, "T-2", "L-1", at, status="done", done_at=at.isoformat())
        add_task(connection, "T-3", "L-2", at)
        kind = kind_by_type("task")
        other = kind.schema.model_validate(
            {"subject": "Invoice", "related_type": "customer", "related_id": "L-1"}
        )
        write_record_in(connection, kind, "T-4", other, subscribers=(), now=at)
        add_event(connection, "lead.demo_given", "L-1", at)
        emit_event_in(
            connection, "lead.mql", "lead", "L-1", {}, source="lead_scoring",
            subscribers=lambda _: [], now=at,
        )  # fmt: skip
    tasks = load_tasks(runtime.engine, ["L-1", "L-2", "L-3"])
    assert {(t.due_at, t.done_at) for t in tasks["L-1"]} == {
        (None, at),
        (at + timedelta(days=1), None),
    }
    assert [t.created_at for t in tasks["L-2"]] == [at]
    assert "L-3" not in tasks
    timeline = load_timeline(runtime.engine, ["L-1", "L-2"])
    assert [(e.type, e.at) for e in timeline["L-1"]] == [("timeline.lead.demo_given", at)]
    assert "L-2" not in timeline

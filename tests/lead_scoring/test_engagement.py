"""The model's engagement features: what they count, and that nothing later leaks in."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lead_scoring.engagement import engagement_features, task_features
from lead_scoring.examples.synthetic_leads import synthetic_leads
from lead_scoring.facts import EngagementEvent, TaskFacts
from lead_scoring.model_columns import model_columns
from lead_scoring.rules import RulesError, parse_rules
from lead_scoring.settings import DEFAULT_INTERACTION_EVENTS
from lead_scoring.training import model_row

CREATED = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
AT = CREATED + timedelta(days=40)


def at(days: float) -> datetime:
    return CREATED + timedelta(days=days)


def test_counts_windows_amounts_recency_and_first_response() -> None:
    events = [
        EngagementEvent("form_submitted", at(0), direction="inbound"),
        EngagementEvent("call_answered", at(0.5), direction="outbound"),
        EngagementEvent("web_visit", at(5), amount=120.0),
        EngagementEvent("web_visit", at(20), amount=30.0),
        EngagementEvent("whatsapp_reply", at(38), direction="inbound"),
        EngagementEvent("call_answered", at(39), direction="outbound"),
    ]
    features = engagement_features(events, AT, CREATED)
    assert features == {
        "touchpoints": 6,
        "events.form_submitted": 1,
        "events.form_submitted.30d": 0,
        "events.call_answered": 2,
        "events.call_answered.30d": 1,
        "events.web_visit": 2,
        "events.web_visit.30d": 1,
        "events.whatsapp_reply": 1,
        "events.whatsapp_reply.30d": 1,
        "amount.web_visit": 150.0,
        "days_since_inbound": 2.0,
        "days_since_outbound": 1.0,
        "hours_to_first_response": 12.0,
    }


def test_a_lead_without_events_has_only_its_touchpoints() -> None:
    assert engagement_features([], AT, CREATED) == {"touchpoints": 0}


def test_features_at_a_moment_do_not_change_when_later_events_are_added() -> None:
    rng = random.Random(7)
    types = ["form_submitted", "call_answered", "whatsapp_reply", "web_visit"]
    for _ in range(200):
        known = [
            EngagementEvent(
                rng.choice(types),
                at(rng.uniform(0, 40)),
                direction=rng.choice(["inbound", "outbound", None]),
                amount=rng.choice([None, rng.uniform(0, 600)]),
            )
            for _ in range(rng.randrange(8))
        ]
        later = [
            EngagementEvent(
                rng.choice(types),
                AT + timedelta(seconds=rng.randrange(1, 10**7)),
                direction=rng.choice(["inbound", "outbound"]),
                amount=rng.uniform(0, 600),
            )
            for _ in range(rng.randrange(1, 8))
        ]
        mixed = known + later
        rng.shuffle(mixed)
        assert engagement_features(mixed, AT, CREATED) == engagement_features(known, AT, CREATED)


def test_an_event_amount_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        EngagementEvent("web_visit", AT, amount=float("nan"))
    with pytest.raises(ValueError, match="timezone-aware"):
        EngagementEvent("web_visit", AT.replace(tzinfo=None))


def test_meetings_and_web_visits_have_names_that_cannot_be_confused() -> None:
    assert DEFAULT_INTERACTION_EVENTS["visit.inbound"] == "meeting_on_site"
    assert "site_visit" not in DEFAULT_INTERACTION_EVENTS.values()
    rules = """
version = 1
[fit]
max = 50
[engagement]
max = 50
[[engagement.rules]]
name = "Visit"
events = ["site_visit"]
points = 5
"""
    with pytest.raises(RulesError, match="use 'meeting_on_site' or 'web_visit'"):
        parse_rules(rules, source="old.toml")


def test_columns_of_many_leads_are_their_features_one_by_one() -> None:
    rng = random.Random(11)
    leads, events = synthetic_leads(600, seed=5, now=AT)
    events = [
        [
            replace(
                event,
                direction=rng.choice(["inbound", "outbound", None]),
                amount=rng.choice([None, rng.uniform(0, 600)]),
            )
            for event in lead_events
        ]
        for lead_events in events
    ]
    moments = [AT - timedelta(days=rng.uniform(0, 300)) for _ in leads]
    tasks = [random_tasks(rng, rng.randrange(4)) for _ in leads]
    columns = model_columns(leads, events, moments, tasks)
    rows = [model_row(*case) for case in zip(leads, events, moments, tasks, strict=True)]
    assert {"tasks", "tasks.done", "tasks.overdue"} <= set(columns)
    assert sorted(columns) == sorted({name for row in rows for name in row})
    for name, column in columns.items():
        values = [None if isinstance(v, float) and math.isnan(v) else v for v in list(column)]
        assert values == [row.get(name) for row in rows], name


def test_columns_of_no_leads_and_of_leads_without_events() -> None:
    assert model_columns([], [], [])["touchpoints"].tolist() == []
    leads, _ = synthetic_leads(3, seed=2, now=AT)
    columns = model_columns(leads, [[], [], []], [AT] * 3)
    assert columns["touchpoints"].tolist() == [0, 0, 0]
    assert not [name for name in columns if name.startswith(("events.", "days_since"))]


def random_tasks(rng: random.Random, count: int) -> list[TaskFacts]:
    tasks = []
    for _ in range(count):
        created = AT - timedelta(days=rng.uniform(0, 400))
        due = rng.choice([None, created + timedelta(days=rng.uniform(0, 30))])
        done = rng.choice([None, created + timedelta(days=rng.uniform(0, 60))])
        tasks.append(TaskFacts(created, due, done))
    return tasks


def test_task_features_count_what_was_known_at_the_moment() -> None:
    tasks = [
        TaskFacts(at(1), due_at=at(5), done_at=at(4)),
        TaskFacts(at(2), due_at=at(10)),
        TaskFacts(at(3), due_at=at(30), done_at=at(39)),
        TaskFacts(at(20), due_at=at(50)),
        TaskFacts(at(45), due_at=at(46), done_at=at(46)),
    ]
    assert task_features(tasks, at(35)) == {"tasks": 4, "tasks.done": 1, "tasks.overdue": 2}
    assert task_features(tasks, at(0.5)) == {}
    assert task_features([], AT) == {}


def test_task_features_at_a_moment_do_not_change_when_later_tasks_or_completions_come() -> None:
    rng = random.Random(3)
    for _ in range(200):
        tasks = random_tasks(rng, rng.randrange(6))
        known = task_features(tasks, AT)
        later = [TaskFacts(AT + timedelta(seconds=rng.randrange(1, 10**7))) for _ in range(3)]
        completed = [
            TaskFacts(t.created_at, t.due_at, AT + timedelta(days=1))
            if t.done_at is None or t.done_at > AT
            else t
            for t in tasks
        ]
        assert task_features([*tasks, *later], AT) == known
        assert task_features(completed, AT) == known

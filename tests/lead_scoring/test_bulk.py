import dataclasses
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lead_scoring.bulk import score_many
from lead_scoring.examples.synthetic_leads import synthetic_leads
from lead_scoring.facts import AttributeValue, EngagementEvent, LeadFacts
from lead_scoring.rules import ScoringRules, default_rules, parse_rules
from lead_scoring.scoring import score, threshold_events, to_points

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

EXOTIC = parse_rules("""
[fit]
max = 15.5

[[fit.rules]]
name = "Not in Tehran"
field = "province"
not_in = ["تهران", "البرز"]
points = -4.25

[[fit.rules]]
name = "No budget"
field = "budget"
missing = true
points = -3

[[fit.rules]]
name = "Has a tier"
field = "attributes.tier"
missing = false
points = 2

[[fit.rules]]
name = "Gold tier"
field = "attributes.tier"
in = ["gold"]
points = 7.5

[[fit.rules]]
name = "Age 30s"
field = "attributes.age"
at_least = 30
below = 40
points = 6

[[fit.rules]]
name = "Manager in a big firm"
points = 9.99
all = [
    { field = "job_title", contains = ["مدیر", "manager"] },
    { field = "company_size", at_least = 50 },
    { field = "source", missing = false },
]

[engagement]
half_life_days = 7.5
min = -12

[[engagement.rules]]
name = "Any email"
events = ["email_opened", "email_clicked"]
points = 2.5
max_times = 4

[[engagement.rules]]
name = "Opened"
events = ["email_opened"]
points = 0.37

[[engagement.rules]]
name = "Unsubscribed"
events = ["unsubscribed"]
points = -20

[[engagement.rules]]
name = "Silent a week"
silent_days = 7
points = -3

[[engagement.rules]]
name = "No reply for 30 days"
silent_days = 30
events = ["whatsapp_reply"]
points = -6

[grades.fit]
A = 20
B = 10
C = 0

[grades.engagement]
1 = 5
2 = 0

[qualification.mql]
min_engagement = 1

[qualification.sql]
min_total = 15
min_engagement = 3
""")


def with_attributes(leads: list[LeadFacts], seed: int) -> list[LeadFacts]:
    rng = random.Random(seed)
    out = []
    for lead in leads:
        attributes: dict[str, AttributeValue] = {}
        if rng.random() < 0.7:
            attributes["tier"] = rng.choice(["gold", "GOLD ", "silver", "", "گلد"])
        if rng.random() < 0.8:
            ages: list[AttributeValue] = [rng.randrange(18, 70), Decimal("39.99"), "35"]
            attributes["age"] = rng.choice(ages)
        out.append(dataclasses.replace(lead, attributes=attributes))
    return out


def boundary_cases() -> tuple[list[LeadFacts], list[list[EngagementEvent]]]:
    """Leads whose events sit exactly on day and silence boundaries."""
    leads, events = [], []
    for days in (0, 7, 7.5, 14, 29.999999, 30, 30.000001, 60, 400):
        created = NOW - timedelta(days=days)
        leads.append(LeadFacts(created_at=created, company_size=50))
        at = NOW - timedelta(days=days)
        events.append([EngagementEvent("email_opened", at), EngagementEvent("whatsapp_reply", at)])
    return leads, events


def assert_same(
    leads: Sequence[LeadFacts], events: Sequence[Sequence[EngagementEvent]], rules: ScoringRules
) -> None:
    bulk = score_many(leads, events, rules, NOW)
    for row, (lead, lead_events) in enumerate(zip(leads, events, strict=True)):
        one = score(lead, lead_events, rules, NOW)
        assert one.fit == to_points(int(bulk.fit[row])), row
        assert one.engagement == to_points(int(bulk.engagement[row])), row
        assert one.total == to_points(int(bulk.total[row])), row
        assert one.grade == bulk.grade(row), row
        assert one.qualification == bulk.qualification_of(row), row
        assert one.points_by_rule() == bulk.points_by_rule(row), row


@pytest.mark.parametrize("rules", [default_rules(), EXOTIC], ids=["default", "exotic"])
def test_bulk_equals_per_lead_on_random_leads(rules: ScoringRules) -> None:
    leads, events = synthetic_leads(3000, seed=11, now=NOW)
    leads = with_attributes(leads, seed=12)
    assert_same(leads, events, rules)


@pytest.mark.parametrize("rules", [default_rules(), EXOTIC], ids=["default", "exotic"])
def test_bulk_equals_per_lead_on_boundaries(rules: ScoringRules) -> None:
    assert_same(*boundary_cases(), rules)


def test_bulk_handles_no_leads_and_no_events() -> None:
    assert score_many([], [], EXOTIC, NOW).fit.shape == (0,)
    leads, _ = synthetic_leads(5, seed=1, now=NOW)
    assert_same(leads, [[] for _ in leads], EXOTIC)


def test_bulk_rows_add_up() -> None:
    leads, events = synthetic_leads(500, seed=3, now=NOW)
    bulk = score_many(leads, events, default_rules(), NOW)
    sums = bulk.rule_points.sum(axis=1) + bulk.fit_limit + bulk.engagement_limit
    assert (sums == bulk.total).all()


def test_bulk_threshold_events() -> None:
    leads, events = synthetic_leads(300, seed=5, now=NOW)
    bulk = score_many(leads, events, default_rules(), NOW)
    previous = ["mql" if row % 2 else None for row in range(len(leads))]
    crossed = dict(bulk.threshold_events(previous))  # type: ignore[arg-type]
    assert crossed
    for row, lead in enumerate(leads):
        new = score(lead, events[row], default_rules(), NOW).qualification
        expected = threshold_events("mql" if row % 2 else None, new)
        assert crossed.get(row, []) == expected

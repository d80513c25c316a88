import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lead_scoring.examples.synthetic_leads import synthetic_leads
from lead_scoring.facts import EngagementEvent, LeadFacts
from lead_scoring.rules import ScoringRules, default_rules, parse_rules
from lead_scoring.scoring import ScoreResult, score, threshold_events

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

RULES_TEXT = """
[fit]
max = 30
min = 0

[[fit.rules]]
name = "Manufacturing"
field = "industry"
in = ["تولیدی"]
points = 20

[[fit.rules]]
name = "Large"
field = "company_size"
at_least = 100
points = 15

[[fit.rules]]
name = "Student"
field = "job_title"
contains = ["دانشجو"]
points = -25

[engagement]
half_life_days = 10
max = 50
min = -5

[[engagement.rules]]
name = "Demo"
events = ["demo_booked"]
points = 40

[[engagement.rules]]
name = "Open"
events = ["email_opened"]
points = 1.5
max_times = 2

[grades.fit]
A = 30
B = 20
C = 10

[grades.engagement]
1 = 30
2 = 10

[qualification.mql]
min_total = 40

[qualification.sql]
min_total = 60
min_fit = 20
"""
RULES = parse_rules(RULES_TEXT)
SILENCE_RULES = parse_rules(
    RULES_TEXT
    + """
[[engagement.rules]]
name = "Silent"
silent_days = 14
events = ["whatsapp_reply", "demo_booked"]
points = -8
"""
)


def lead(**fields: object) -> LeadFacts:
    fields.setdefault("created_at", NOW - timedelta(days=1))
    return LeadFacts(**fields)  # type: ignore[arg-type]


def event(kind: str, days_ago: float) -> EngagementEvent:
    return EngagementEvent(kind, NOW - timedelta(days=days_ago))


def assert_adds_up(result: ScoreResult) -> None:
    fit = sum((line.points for line in result.explanation if line.group == "fit"), Decimal(0))
    engagement = sum(
        (line.points for line in result.explanation if line.group == "engagement"), Decimal(0)
    )
    assert (fit, engagement) == (result.fit, result.engagement)
    assert result.total == result.fit + result.engagement
    assert all(line.points.as_tuple().exponent == -2 for line in result.explanation)


@pytest.mark.parametrize(
    ("days_ago", "expected"),
    [
        (0, "40.00"),
        (0.99, "40.00"),  # ages are whole days: 23 hours is still day 0
        (10, "20.00"),  # one half-life: exactly half
        (20, "10.00"),
        (30, "5.00"),
        (5, "28.28"),  # 40 * 2 ** -0.5 = 28.2843 -> 28.28
        (-0.5, "40.00"),  # clock skew: an event just after now counts as new
        (10_000, "0.00"),  # past the table: worth nothing, and no line
    ],
)
def test_decay_follows_the_half_life(days_ago: float, expected: str) -> None:
    result = score(lead(), [event("demo_booked", days_ago)], RULES, NOW)
    assert result.engagement == Decimal(expected)
    assert_adds_up(result)


def test_decay_line_says_how_it_was_computed() -> None:
    result = score(lead(), [event("demo_booked", 10)], RULES, NOW)
    [line] = result.explanation
    assert (line.rule, line.group, line.kind, line.points) == (
        "Demo",
        "engagement",
        "rule",
        Decimal("20.00"),
    )
    assert line.at == NOW - timedelta(days=10)
    assert line.detail == "demo_booked, 10 days old: 40 x 0.5^(10/10)"


def test_no_half_life_means_no_decay() -> None:
    rules = RULES.model_copy(
        update={"engagement": RULES.engagement.model_copy(update={"half_life_days": None})}
    )
    result = score(lead(), [event("demo_booked", 300)], rules, NOW)
    assert result.engagement == Decimal("40.00")


def test_max_times_counts_the_most_recent_events() -> None:
    opens = [event("email_opened", days) for days in (30, 0, 10, 20)]
    result = score(lead(), opens, RULES, NOW)
    assert [line.points for line in result.explanation] == [Decimal("1.50"), Decimal("0.75")]


def test_fit_cap_is_a_line_of_its_own() -> None:
    result = score(lead(industry="تولیدی", company_size=500), [], RULES, NOW)
    assert result.fit == Decimal("30.00")
    assert [(line.rule, line.kind, line.points) for line in result.explanation] == [
        ("Manufacturing", "rule", Decimal("20.00")),
        ("Large", "rule", Decimal("15.00")),
        ("fit.max", "limit", Decimal("-5.00")),
    ]
    assert_adds_up(result)


def test_fit_floor_is_a_line_of_its_own() -> None:
    result = score(lead(industry="تولیدی", job_title="دانشجوی ارشد"), [], RULES, NOW)
    assert result.fit == Decimal("0.00")
    assert result.explanation[-1].rule == "fit.min"
    assert result.explanation[-1].points == Decimal("5.00")
    assert result.explanation[-1].detail == "fit rules gave -5.00; min is 0"
    assert_adds_up(result)


def test_engagement_cap_applies_after_decay() -> None:
    events = [event("demo_booked", 0), event("demo_booked", 10)]
    result = score(lead(), events, RULES, NOW)
    assert result.engagement == Decimal("50.00")
    assert [line.points for line in result.explanation] == [
        Decimal("40.00"),
        Decimal("20.00"),
        Decimal("-10.00"),
    ]


def test_silence_counts_from_creation_then_from_the_last_answer() -> None:
    created = NOW - timedelta(days=14)
    silent = score(lead(created_at=created), [event("email_opened", 1)], SILENCE_RULES, NOW)
    # 1.5 * 0.5 ** 0.1 = 1.40; 1.40 - 8 = -6.60, raised to the floor of -5 by +1.60
    assert [(line.rule, line.points) for line in silent.explanation] == [
        ("Open", Decimal("1.40")),
        ("Silent", Decimal("-8.00")),
        ("engagement.min", Decimal("1.60")),
    ]
    assert silent.explanation[1].at == NOW
    assert silent.engagement == Decimal("-5.00")
    answered = [event("whatsapp_reply", 13.9)]
    assert score(lead(created_at=created), answered, SILENCE_RULES, NOW).explanation == ()
    late = score(lead(created_at=created), [event("whatsapp_reply", 15)], SILENCE_RULES, NOW)
    assert late.explanation[-2].at == NOW - timedelta(days=1)
    assert late.explanation[-2].detail == (
        "no answer for 14+ days (last whatsapp_reply 2025-02-14T12:00:00+00:00)"
    )


@pytest.mark.parametrize(
    ("fields", "events", "grade", "level"),
    [
        ({}, [], "D3", "none"),
        ({"industry": "تولیدی"}, [], "B3", "none"),
        ({"industry": "تولیدی", "company_size": 100}, [], "A3", "none"),
        ({"company_size": 100}, [("demo_booked", 0)], "C1", "mql"),
        ({"industry": "تولیدی"}, [("demo_booked", 0)], "B1", "sql"),
        ({"industry": "تولیدی"}, [("demo_booked", 10)], "B2", "mql"),
        ({}, [("demo_booked", 20)], "D2", "none"),
        ({}, [("demo_booked", 0)], "D1", "mql"),
    ],
)
def test_grades_and_thresholds(
    fields: dict[str, object], events: list[tuple[str, float]], grade: str, level: str
) -> None:
    result = score(lead(**fields), [event(*e) for e in events], RULES, NOW)
    assert (result.grade, result.qualification) == (grade, level)


def test_boundaries_are_inclusive() -> None:
    # fit 20 is exactly B; total 20 + 40 = 60 is exactly the SQL total.
    result = score(lead(industry="تولیدی"), [event("demo_booked", 0)], RULES, NOW)
    assert (result.fit, result.total) == (Decimal(20), Decimal(60))
    assert result.qualification == "sql"


@pytest.mark.parametrize(
    ("old", "new", "events"),
    [
        (None, "none", []),
        (None, "mql", ["lead.mql"]),
        (None, "sql", ["lead.mql", "lead.sql"]),
        ("none", "sql", ["lead.mql", "lead.sql"]),
        ("mql", "sql", ["lead.sql"]),
        ("mql", "mql", []),
        ("sql", "mql", []),
        ("sql", "none", []),
        ("none", "mql", ["lead.mql"]),
    ],
)
def test_threshold_events(old: str | None, new: str, events: list[str]) -> None:
    assert threshold_events(old, new) == events  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "rules", [RULES, SILENCE_RULES, default_rules()], ids=["test", "silence", "default"]
)
def test_explanation_adds_up_on_random_leads(rules: ScoringRules) -> None:
    leads, events = synthetic_leads(2000, seed=7, now=NOW)
    for facts, lead_events in zip(leads, events, strict=True):
        assert_adds_up(score(facts, lead_events, rules, NOW))


def test_result_serialises_to_json() -> None:
    result = score(lead(industry="تولیدی"), [event("demo_booked", 3)], RULES, NOW)
    data = json.loads(json.dumps(result.as_dict(), ensure_ascii=False))
    assert data["total"] == str(result.total)
    assert data["explanation"][0] == {
        "rule": "Manufacturing",
        "group": "fit",
        "kind": "rule",
        "points": "20.00",
        "at": NOW.isoformat(),
        "detail": "industry='تولیدی'",
    }
    assert result.points_by_rule() == {"Manufacturing": Decimal("20.00"), "Demo": Decimal("32.49")}


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        EngagementEvent("demo_booked", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        score(lead(), [], RULES, datetime(2025, 1, 1))

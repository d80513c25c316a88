from datetime import UTC, datetime
from pathlib import Path

import pytest

from lead_scoring.facts import LeadFacts
from lead_scoring.rules import RulesError, default_rules, load_rules, parse_rules

TAIL = """
[grades.fit]
A = 40
B = 25
C = 10

[grades.engagement]
1 = 30
2 = 10

[qualification.mql]
min_total = 40

[qualification.sql]
min_total = 70
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, source="test.toml")
    assert "test.toml" in str(caught.value)
    return caught.value.problems


def test_default_rules_load_with_twenty_one_rules() -> None:
    rules = default_rules()
    assert len(rules.fit.rules) == 12
    assert len(rules.engagement.rules) == 9
    assert rules.engagement.half_life_days == 30


def test_bad_field_value_names_the_rule_and_the_field() -> None:
    text = (
        """
[[fit.rules]]
name = "Good"
field = "industry"
in = ["a"]
points = 1

[[fit.rules]]
name = "Budget big"
field = "budget"
at_least = "a lot"
points = 5
"""
        + TAIL
    )
    assert problems(text) == [
        "fit rule #2 'Budget big', field at_least: "
        "Input should be a valid number, unable to parse string as a number"
    ]


def test_unknown_field_in_a_multi_condition_rule_is_located() -> None:
    text = (
        """
[[fit.rules]]
name = "Combo"
points = 3
all = [{ field = "industry", in = ["a"] }, { field = "colour", in = ["red"] }]
"""
        + TAIL
    )
    [problem] = problems(text)
    assert problem.startswith("fit rule #1 'Combo', field all.1.field: unknown field 'colour'")


def test_rule_without_a_name_is_named_by_position() -> None:
    text = (
        """
[[engagement.rules]]
events = ["demo_booked"]
points = 3
"""
        + TAIL
    )
    assert problems(text) == ["engagement rule #1, field name: Field required"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            'name = "R"\nfield = "budget"\nin = ["x"]\npoints = 1',
            "fit rule #1 'R': budget is a number: test it with at_least/below",
        ),
        (
            'name = "R"\nfield = "industry"\nat_least = 3\npoints = 1',
            "fit rule #1 'R': industry is text: test it with in, not_in or contains",
        ),
        (
            'name = "R"\nfield = "industry"\nin = "x"\npoints = 1',
            """fit rule #1 'R', field in: must be a list, such as ["a", "b"]""",
        ),
        (
            'name = "R"\nfield = "industry"\nin = ["x"]\ncontains = ["y"]\npoints = 1',
            "fit rule #1 'R': give exactly one test: in, not_in, contains, at_least/below "
            "or missing (got in, contains)",
        ),
        (
            'name = "R"\nfield = "company_size"\nat_least = 10\nbelow = 5\npoints = 1',
            "fit rule #1 'R': at_least must be smaller than below",
        ),
        (
            'name = "R"\nfield = "industry"\nin = ["x"]\npoints = 1.005',
            "fit rule #1 'R', field points: Decimal input should have no more than 2 "
            "decimal places",
        ),
        (
            'name = "R"\nfield = "industry"\nin = ["x"]\npoints = 1\ncolour = "red"',
            "fit rule #1 'R', field colour: Extra inputs are not permitted",
        ),
    ],
)
def test_fit_rule_errors(rule: str, expected: str) -> None:
    assert problems("[[fit.rules]]\n" + rule + "\n" + TAIL) == [expected]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            'name = "E"\npoints = 1',
            "engagement rule #1 'E': an engagement rule needs events = [...] or silent_days = N",
        ),
        (
            'name = "E"\nsilent_days = 7\nmax_times = 2\npoints = -1',
            "engagement rule #1 'E': max_times applies to event rules, not to silent_days rules",
        ),
        (
            'name = "E"\nevents = []\npoints = 1',
            "engagement rule #1 'E', field events: list at least one event type",
        ),
        (
            'name = "E"\nevents = ["demo_booked"]\nmax_times = 0\npoints = 1',
            "engagement rule #1 'E', field max_times: Input should be greater than or equal to 1",
        ),
    ],
)
def test_engagement_rule_errors(rule: str, expected: str) -> None:
    assert problems("[[engagement.rules]]\n" + rule + "\n" + TAIL) == [expected]


def test_duplicate_names_are_refused() -> None:
    text = (
        """
[[fit.rules]]
name = "Twice"
field = "industry"
in = ["a"]
points = 1

[[engagement.rules]]
name = "Twice"
events = ["demo_booked"]
points = 1
"""
        + TAIL
    )
    assert problems(text) == ["file: two rules are named 'Twice': names must be unique"]


def test_grade_and_threshold_order_is_checked() -> None:
    text = TAIL.replace("A = 40", "A = 5").replace("min_total = 70", "min_total = 30")
    assert problems(text) == [
        "grades.fit: fit grade boundaries must satisfy A >= B >= C",
        "qualification: sql.min_total must be given and at least mql.min_total (40)",
    ]


def test_toml_syntax_error() -> None:
    [problem] = problems("[fit\n")
    assert problem.startswith("not valid TOML:")


def test_load_rules_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[[fit.rules]]\nname = 'X'\n" + TAIL, encoding="utf-8")
    with pytest.raises(RulesError, match=r"rules\.toml:\n  fit rule #1 'X': give a condition"):
        load_rules(path)


def test_matching_ignores_persian_spelling_variants() -> None:
    text = (
        """
[[fit.rules]]
name = "Karaj"
field = "city"
in = ["كرج"]
points = 1

[[fit.rules]]
name = "Manager"
field = "job_title"
contains = ["مدیر"]
points = 1

[[fit.rules]]
name = "Age band"
field = "attributes.age"
at_least = 30
below = 40
points = 1
"""
        + TAIL
    )
    rules = parse_rules(text)
    lead = LeadFacts(
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        city=" کرج ",
        job_title="MODİR: مدير خرید",
        attributes={"age": 35},
    )
    assert [rule.matches(lead) for rule in rules.fit.rules] == [True, True, True]
    other = LeadFacts(created_at=lead.created_at, city=None, attributes={"age": "35"})
    assert [rule.matches(other) for rule in rules.fit.rules] == [False, False, False]

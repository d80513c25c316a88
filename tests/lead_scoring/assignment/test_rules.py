"""The assignment rules file: defaults load, and every mistake is named with its rule."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from lead_scoring.assignment import (
    AssignmentRulesError,
    default_assignment_rules,
    load_assignment_rules,
    parse_assignment_rules,
)


def test_the_bundled_rules_load() -> None:
    rules = default_assignment_rules()
    assert [rule.name for rule in rules.rules] == ["english-site", "sales"]
    calendar = rules.calendar.build()
    assert calendar.hours[3] == (time(8), time(13))  # Thursday, a half day
    assert 4 not in calendar.hours  # Friday off
    assert date(2025, 3, 21) in calendar.holidays  # 1 Farvardin 1404, Nowruz


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[rules]]\nname = "a"\n[[rules]]\nname = "b"\nwhen.colour = ["red"]\n',
            "rule 2 ('b'): when.colour",
        ),
        ('[[rules]]\nname = "a"\nteam = "x"\nbogus = 1\n', "rule 1 ('a'): bogus: Extra inputs"),
        (
            '[[rules]]\nname = "a"\n[[rules]]\nname = "a"\n',
            "rule 2 ('a'): the name is already used",
        ),
        (
            '[[rules]]\nname = "a"\nescalate_to = "team_lead"\n',
            "rule 1 ('a'): escalate_to = 'team_lead' needs a team",
        ),
        ('[[rules]]\nname = "a"\nwhen.source = []\n', "when.source must list at least one value"),
        (
            '[[rules]]\nname = "a"\nfirst_response_minutes = 0\n',
            "rule 1 ('a'): first_response_minutes",
        ),
        ('[[rules]]\nname = "a"\nlanguages = ["Persian"]\n', "rule 1 ('a'): languages.0"),
        ('[[rules]]\nname = "a b"\n', "rule 1 ('a b'): name"),
        ("rules = []\n", "rules: List should have at least 1 item"),
        (
            '[calendar]\nhours = "17:00-08:00"\n[[rules]]\nname = "a"\n',
            "must start before they end",
        ),
        ('[calendar]\nhours = "8am"\n[[rules]]\nname = "a"\n', "must look like 08:00-17:00"),
        ('[calendar]\nholidays = ["1404-13-01"]\n[[rules]]\nname = "a"\n', "calendar.holidays"),
        ('[calendar]\nworkdays = ["funday"]\n[[rules]]\nname = "a"\n', "calendar.workdays.0"),
        ('[calendar]\nworkdays = []\n[[rules]]\nname = "a"\n', "at least one working day"),
        ('[defaults]\nescalate_to = "boss"\n[[rules]]\nname = "a"\n', "defaults.escalate_to"),
        ("[[rules]\n", "not valid TOML"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_rule_and_field(text: str, message: str) -> None:
    with pytest.raises(AssignmentRulesError) as raised:
        parse_assignment_rules(text, source="team.toml")
    assert "invalid assignment rules in team.toml" in str(raised.value)
    assert message in str(raised.value)


def test_rules_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rules]]\nname = "x"\nwhen.province = ["کرمانشاه"]\n', encoding="utf-8")
    rules = load_assignment_rules(path)
    assert rules.rules[0].matches(
        {"province": "\u0643\u0631\u0645\u0627\u0646\u0634\u0627\u0647"}
    )  # Arabic kaf
    assert not rules.rules[0].matches({"province": "قم"})
    assert not rules.rules[0].matches({})
    path.write_text('[[rules]]\nname = "x"\nteam = 3\n', encoding="utf-8")
    with pytest.raises(AssignmentRulesError, match=str(path)):
        load_assignment_rules(path)

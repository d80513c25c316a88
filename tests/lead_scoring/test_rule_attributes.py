"""Fit rules on custom attributes are checked against the declared attributes' types."""

from __future__ import annotations

import pytest

from core.schemas.attributes import AttributeSpec
from lead_scoring.rule_attributes import RuleAttributesError, check_rule_attributes
from lead_scoring.rules import parse_rules
from tests.lead_scoring.test_rules import TAIL

DECLARED = {
    "plan": AttributeSpec(type="choice", choices=("Basic", "Pro")),
    "pages": AttributeSpec(type="number"),
    "newsletter": AttributeSpec(type="boolean"),
    "first_visit": AttributeSpec(type="date"),
    "heard_from": AttributeSpec(type="text"),
}


def rules_with(condition: str) -> str:
    return f'[[fit.rules]]\nname = "R"\npoints = 5\n{condition}\n{TAIL}'


@pytest.mark.parametrize(
    "condition",
    [
        'field = "attributes.plan"\nin = ["pro"]',
        'field = "attributes.plan"\ncontains = ["as"]',
        'field = "attributes.pages"\nat_least = 3',
        'field = "attributes.pages"\nmissing = true',
        'field = "attributes.newsletter"\nin = ["true"]',
        'field = "attributes.newsletter"\nnot_in = ["False"]',
        'field = "attributes.first_visit"\ncontains = ["2025-"]',
        'field = "attributes.heard_from"\nnot_in = ["friend"]',
        'field = "industry"\nin = ["x"]',
    ],
)
def test_conditions_that_fit_their_declaration_are_accepted(condition: str) -> None:
    check_rule_attributes(parse_rules(rules_with(condition)), DECLARED, source="r.toml")


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ('field = "attributes.plans"\nin = ["pro"]', "not a declared lead attribute"),
        ('field = "attributes.plan"\nin = ["Gold"]', "gold not among the choices (Basic, Pro)"),
        ('field = "attributes.plan"\nat_least = 1', "type choice take in, not_in or contains"),
        ('field = "attributes.pages"\nin = ["3"]', "type number take at_least/below"),
        ('field = "attributes.newsletter"\nin = ["yes"]', "type boolean take"),
        ('field = "attributes.newsletter"\ncontains = ["t"]', "type boolean take"),
        ('field = "attributes.first_visit"\nbelow = 2025', "type date take"),
        ('all = [{ field = "attributes.heard_from", at_least = 1 }]', "type text take"),
    ],
)
def test_undeclared_or_mistyped_attributes_are_refused_in_one_line(
    condition: str, problem: str
) -> None:
    rules = parse_rules(rules_with(condition))
    with pytest.raises(RuleAttributesError) as raised:
        check_rule_attributes(rules, DECLARED, source="r.toml")
    text = str(raised.value)
    assert text.startswith("scoring rules in r.toml: fit rule #1 'R', field attributes.")
    assert problem in text
    assert "\n" not in text


def test_with_nothing_declared_every_attribute_rule_is_refused() -> None:
    rules = parse_rules(rules_with('field = "attributes.pages"\nat_least = 3'))
    with pytest.raises(RuleAttributesError, match=r"\(declared: none\)"):
        check_rule_attributes(rules, {}, source="r.toml")

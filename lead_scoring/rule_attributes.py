"""Fit rules on custom attributes, checked against the attributes the settings declare.

A rule on ``attributes.<name>`` parses without knowing the organisation's attributes;
when the rules are loaded beside the declarations (``[attributes.lead.<name>]``), each
such condition must name a declared lead attribute and test it as its type allows, or
start-up stops with one line naming the rule, the field and what is wrong. Without
this check a misspelt name or a text test on a number is accepted and never matches.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.schemas.attributes import AttributeSpec
from lead_scoring.facts import ATTRIBUTE_PREFIX
from lead_scoring.rules import Condition, RulesError, ScoringRules
from lead_scoring.text import normalise_text

#: Which tests each attribute type takes (``missing`` fits every type).
TESTS_OF_TYPE = {
    "text": "in, not_in or contains",
    "choice": "in, not_in or contains",
    "date": "in, not_in or contains on YYYY-MM-DD text",
    "number": "at_least/below",
    "boolean": 'in = ["true"] or ["false"]',
}


class RuleAttributesError(RulesError):
    """Rules that name undeclared attributes or test one against its type, in one line."""

    def __str__(self) -> str:
        """Return every problem on one line, after the rules file's name."""
        return f"scoring rules in {self.source}: " + "; ".join(self.problems)


def _problem(condition: Condition, spec: AttributeSpec | None, declared: str) -> str | None:
    """Return why ``condition`` does not fit its attribute's declaration, or None."""
    if spec is None:
        return f"not a declared lead attribute (declared: {declared})"
    if condition.missing is not None:
        return None
    kind = spec.type
    wrong = f"attributes of type {kind} take {TESTS_OF_TYPE[kind]}"
    if kind == "number":
        return None if condition.is_numeric else wrong
    if condition.is_numeric:
        return wrong
    listed = condition.in_ or condition.not_in or frozenset()
    if kind == "boolean" and (condition.contains is not None or not listed <= {"true", "false"}):
        return wrong
    if kind == "choice" and condition.contains is None:
        choices = {normalise_text(choice) for choice in spec.choices}
        unknown = sorted(listed - choices)
        if unknown:
            return f"{', '.join(unknown)} not among the choices ({', '.join(spec.choices)})"
    return None


def check_rule_attributes(
    rules: ScoringRules, declared: Mapping[str, AttributeSpec], *, source: str
) -> None:
    """Raise RuleAttributesError naming every fit condition on an undeclared or mistyped attribute.

    ``declared`` is the lead attributes the settings declare; ``source`` names the
    rules file in the message.
    """
    names = ", ".join(sorted(declared)) or "none"
    problems = []
    for position, rule in enumerate(rules.fit.rules, start=1):
        for condition in rule.conditions:
            if not condition.field.startswith(ATTRIBUTE_PREFIX):
                continue
            spec = declared.get(condition.field[len(ATTRIBUTE_PREFIX) :])
            problem = _problem(condition, spec, names)
            if problem is not None:
                label = f"fit rule #{position} {rule.name!r}, field {condition.field}"
                problems.append(f"{label}: {problem}")
    if problems:
        raise RuleAttributesError(source, problems)


__all__ = ["TESTS_OF_TYPE", "RuleAttributesError", "check_rule_attributes"]

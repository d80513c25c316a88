"""The scoring rules file: its typed model, its validation and how it is loaded.

Rules are data, not code. A TOML file lists fit rules (tests on the lead's profile) and
engagement rules (points per behaviour event, or for a silence of N days), per-group
limits, the engagement half-life, the grade boundaries and the MQL/SQL thresholds.
``docs/lead_scoring.md`` describes the format; ``default_rules.toml`` is an example.
A bad file raises :class:`RulesError`, whose message names each bad rule by its group,
position and name, and the field that is wrong.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lead_scoring.facts import (
    ATTRIBUTE_PREFIX,
    NUMBER_FIELDS,
    TEXT_FIELDS,
    LeadFacts,
    number_value,
)
from lead_scoring.text import normalise_text, text_value

#: Points a rule gives (negative to take away): at most two decimal places.
Points = Annotated[Decimal, Field(ge=-10_000, le=10_000, decimal_places=2)]


#: An event type no longer used: it meant a meeting on site to the rules and any visit
#: to the interaction mapping, so web visits scored like meetings.
RETIRED_EVENT = "site_visit"


def _not_zero(points: Decimal) -> Decimal:
    if points == 0:
        raise ValueError("a rule must give or take points: 0 is not allowed")
    return points


#: Points of a rule: like :data:`Points`, but never zero.
RulePoints = Annotated[Points, AfterValidator(_not_zero)]

#: A rule's name: shown in every score explanation, so it must be unique in the file.
RuleName = Annotated[str, Field(min_length=1, max_length=100)]

#: An engagement event type such as ``email_opened`` or ``whatsapp.reply``.
EventType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]

#: The keys of a condition, which a fit rule may also give inline instead of ``all``.
CONDITION_KEYS = frozenset({"field", "in", "not_in", "contains", "at_least", "below", "missing"})


def cents(points: Decimal) -> int:
    """Return points as an integer number of hundredths, the unit all arithmetic uses."""
    return int(points * 100)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _normalised(values: frozenset[str] | tuple[str, ...] | None) -> list[str] | None:
    if values is None:
        return None
    normalised = [normalise_text(value) for value in values]
    if not normalised or "" in normalised:
        raise ValueError("must list at least one value, and no empty value")
    return normalised


def _require_list(values: Any) -> Any:
    if values is not None and not isinstance(values, list | tuple | set | frozenset):
        raise ValueError('must be a list, such as ["a", "b"]')
    return values


class Condition(_Model):
    """One test on one field of the lead: exactly one of the tests below.

    ``in``/``not_in`` compare the whole normalised text with the values listed,
    ``contains`` looks for any of the listed fragments inside it, ``at_least`` and
    ``below`` bound a number (``at_least <= x < below``, either may be left out),
    ``missing = true`` matches a field with no value (``false``: any value). A missing
    value fails every test except ``missing``.
    """

    field: str
    in_: frozenset[str] | None = Field(default=None, alias="in")
    not_in: frozenset[str] | None = None
    contains: tuple[str, ...] | None = None
    at_least: float | None = None
    below: float | None = None
    missing: bool | None = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value in TEXT_FIELDS or value in NUMBER_FIELDS:
            return value
        if value.startswith(ATTRIBUTE_PREFIX) and len(value) > len(ATTRIBUTE_PREFIX):
            return value
        known = ", ".join((*TEXT_FIELDS, *NUMBER_FIELDS, ATTRIBUTE_PREFIX + "<name>"))
        raise ValueError(f"unknown field {value!r}; use one of {known}")

    @field_validator("in_", "not_in", "contains", mode="before")
    @classmethod
    def _list_given(cls, values: Any) -> Any:
        return _require_list(values)

    @field_validator("in_", "not_in")
    @classmethod
    def _normalise_set(cls, values: frozenset[str] | None) -> frozenset[str] | None:
        normalised = _normalised(values)
        return None if normalised is None else frozenset(normalised)

    @field_validator("contains")
    @classmethod
    def _normalise_fragments(cls, values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        normalised = _normalised(values)
        return None if normalised is None else tuple(normalised)

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [
            name
            for name, given in (
                ("in", self.in_ is not None),
                ("not_in", self.not_in is not None),
                ("contains", self.contains is not None),
                ("at_least/below", self.at_least is not None or self.below is not None),
                ("missing", self.missing is not None),
            )
            if given
        ]
        if len(tests) != 1:
            raise ValueError(
                "give exactly one test: in, not_in, contains, at_least/below or missing"
                + (f" (got {', '.join(tests)})" if tests else "")
            )
        if self.field in TEXT_FIELDS and self.is_numeric:
            raise ValueError(f"{self.field} is text: test it with in, not_in or contains")
        if self.field in NUMBER_FIELDS and self.is_text:
            raise ValueError(f"{self.field} is a number: test it with at_least/below")
        if self.at_least is not None and self.below is not None and self.at_least >= self.below:
            raise ValueError("at_least must be smaller than below")
        return self

    @property
    def is_numeric(self) -> bool:
        """Whether this is a number range test."""
        return self.at_least is not None or self.below is not None

    @property
    def is_text(self) -> bool:
        """Whether this is a text test (``in``, ``not_in`` or ``contains``)."""
        return self.in_ is not None or self.not_in is not None or self.contains is not None

    def matches_text(self, text: str) -> bool:
        """Apply this text test to an already normalised, present value."""
        if self.in_ is not None:
            return text in self.in_
        if self.not_in is not None:
            return text not in self.not_in
        assert self.contains is not None
        return any(fragment in text for fragment in self.contains)

    def matches_number(self, number: float) -> bool:
        """Apply this range test to a present number."""
        return (self.at_least is None or number >= self.at_least) and (
            self.below is None or number < self.below
        )

    def matches(self, raw: object) -> bool:
        """Apply this test to a field's raw value, as :meth:`LeadFacts.value` returns it."""
        if self.missing is not None:
            present = text_value(raw) is not None or number_value(raw) is not None
            return present != self.missing
        if self.is_numeric:
            number = number_value(raw)
            return number is not None and self.matches_number(number)
        text = text_value(raw)
        return text is not None and self.matches_text(text)


class FitRule(_Model):
    """Points for a profile: given when every condition holds.

    A rule with one condition may write it inline (``field = "industry"``,
    ``in = [...]``); a rule with several lists them under ``all``.
    """

    name: RuleName
    points: RulePoints
    conditions: tuple[Condition, ...] = Field(alias="all")

    @model_validator(mode="before")
    @classmethod
    def _inline_condition(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "field" not in data:
            if "all" not in data:
                raise ValueError("give a condition (field = ... and a test) or all = [...]")
            return data
        if "all" in data:
            raise ValueError("give one inline condition (field = ...) or all = [...], not both")
        rule = {key: value for key, value in data.items() if key not in CONDITION_KEYS}
        rule["all"] = [{key: value for key, value in data.items() if key in CONDITION_KEYS}]
        return rule

    @field_validator("conditions")
    @classmethod
    def _some_condition(cls, conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
        if not conditions:
            raise ValueError("list at least one condition")
        return conditions

    def matches(self, lead: LeadFacts) -> bool:
        """Whether every condition holds for ``lead``."""
        return all(condition.matches(lead.value(condition.field)) for condition in self.conditions)


class EngagementRule(_Model):
    """Points for behaviour: per matching event, or once for a silence.

    An event rule lists ``events`` (types) and gives ``points`` for each matching event,
    decayed by its age; ``max_times`` counts only the most recent N. A silence rule has
    ``silent_days``: it gives ``points`` (usually negative) once when no event of the
    listed types (any type when ``events`` is left out) happened in the last N days,
    counting from the lead's creation when it has none. Silence does not decay.
    """

    name: RuleName
    points: RulePoints
    events: frozenset[EventType] | None = None
    max_times: int | None = Field(default=None, ge=1, le=1000)
    silent_days: int | None = Field(default=None, ge=1, le=3650)

    @field_validator("events", mode="before")
    @classmethod
    def _list_given(cls, values: Any) -> Any:
        return _require_list(values)

    @field_validator("events")
    @classmethod
    def _some_event(cls, events: frozenset[str] | None) -> frozenset[str] | None:
        if events is not None and not events:
            raise ValueError("list at least one event type")
        if events is not None and RETIRED_EVENT in events:
            raise ValueError(
                f"{RETIRED_EVENT!r} named both a meeting at the lead's site and a visit to "
                "the website; use 'meeting_on_site' or 'web_visit'"
            )
        return events

    @model_validator(mode="after")
    def _event_or_silence(self) -> EngagementRule:
        if self.silent_days is None and self.events is None:
            raise ValueError("an engagement rule needs events = [...] or silent_days = N")
        if self.silent_days is not None and self.max_times is not None:
            raise ValueError("max_times applies to event rules, not to silent_days rules")
        return self

    @property
    def is_silence(self) -> bool:
        """Whether this rule scores a silence rather than events."""
        return self.silent_days is not None

    def counts(self, event_type: str) -> bool:
        """Whether an event of this type matches the rule (or ends its silence)."""
        return self.events is None or event_type in self.events


class _Limits(_Model):
    max: Points | None = None
    min: Points | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Limits:
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError("min must not be greater than max")
        return self


class FitGroup(_Limits):
    """The fit rules and the limits of the fit score (``max`` caps it, ``min`` floors it)."""

    rules: tuple[FitRule, ...] = ()


class EngagementGroup(_Limits):
    """The engagement rules, the limits of the engagement score and its half-life.

    With ``half_life_days`` set, an event that is ``d`` whole days old gives its rule's
    points times ``0.5 ** (d / half_life_days)``; without it events never fade.
    """

    half_life_days: float | None = Field(default=None, gt=0, le=3650)
    rules: tuple[EngagementRule, ...] = ()


class FitGrades(_Model):
    """The lowest fit score for letters A, B and C; anything lower is D."""

    A: Points
    B: Points
    C: Points

    @model_validator(mode="after")
    def _ordered(self) -> FitGrades:
        if not self.A >= self.B >= self.C:
            raise ValueError("fit grade boundaries must satisfy A >= B >= C")
        return self


class EngagementLevels(_Model):
    """The lowest engagement score for levels 1 and 2; anything lower is level 3."""

    level_1: Points = Field(alias="1")
    level_2: Points = Field(alias="2")

    @model_validator(mode="after")
    def _ordered(self) -> EngagementLevels:
        if self.level_1 < self.level_2:
            raise ValueError("engagement level boundaries must satisfy 1 >= 2")
        return self


class Grades(_Model):
    """How the two scores become a grade such as ``A1`` (best) or ``D3`` (worst)."""

    fit: FitGrades
    engagement: EngagementLevels


class Threshold(_Model):
    """Minimum scores a lead must all reach to qualify; at least one is given."""

    min_total: Points | None = None
    min_fit: Points | None = None
    min_engagement: Points | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Threshold:
        if self.min_total is None and self.min_fit is None and self.min_engagement is None:
            raise ValueError("give at least one of min_total, min_fit, min_engagement")
        return self


class Qualification(_Model):
    """The thresholds of marketing-qualified (MQL) and sales-qualified (SQL) leads.

    SQL must be at least as strict as MQL on every score MQL tests, so an SQL lead is
    always an MQL lead too.
    """

    mql: Threshold
    sql: Threshold

    @model_validator(mode="after")
    def _sql_stricter(self) -> Qualification:
        for name in ("min_total", "min_fit", "min_engagement"):
            mql, sql = getattr(self.mql, name), getattr(self.sql, name)
            if mql is not None and (sql is None or sql < mql):
                raise ValueError(f"sql.{name} must be given and at least mql.{name} ({mql})")
        return self


class ScoringRules(_Model):
    """A whole rules file: both groups of rules, the grades and the thresholds."""

    version: Literal[1] = 1
    fit: FitGroup = FitGroup()
    engagement: EngagementGroup = EngagementGroup()
    grades: Grades
    qualification: Qualification

    @model_validator(mode="after")
    def _unique_names(self) -> ScoringRules:
        seen: set[str] = set()
        rules: list[FitRule | EngagementRule] = [*self.fit.rules, *self.engagement.rules]
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}: names must be unique")
            seen.add(rule.name)
        return self


class RulesError(ValueError):
    """The rules file cannot be used; ``problems`` holds one line per mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid scoring rules in {source}:\n  " + "\n  ".join(problems))


def _rule_label(raw: Any, loc: tuple[int | str, ...]) -> tuple[str, tuple[int | str, ...]]:
    """Name the rule an error location points into, and return the rest of the location."""
    group, _, index = loc[:3]
    try:
        rule = raw[group]["rules"][index]
    except (KeyError, IndexError, TypeError):
        rule = None
    name = rule.get("name") if isinstance(rule, dict) else None
    label = f"{group} rule #{int(index) + 1}" + (f" {name!r}" if isinstance(name, str) else "")
    rest = loc[3:]
    if isinstance(rule, dict) and "all" not in rule and rest[:2] == ("all", 0):
        rest = rest[2:]
    return label, rest


def _problems(raw: Any, error: ValidationError) -> list[str]:
    problems = []
    for detail in error.errors():
        loc = tuple(detail["loc"])
        message = str(detail["msg"]).removeprefix("Value error, ")
        if len(loc) >= 3 and loc[1] == "rules" and isinstance(loc[2], int):
            label, rest = _rule_label(raw, loc)
            where = f"{label}, field {'.'.join(map(str, rest))}" if rest else label
        else:
            where = ".".join(map(str, loc)) or "file"
        problems.append(f"{where}: {message}")
    return problems


def parse_rules(text: str, *, source: str = "<rules>") -> ScoringRules:
    """Parse and validate a rules file's TOML text; ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(source, [f"not valid TOML: {error}"]) from error
    try:
        return ScoringRules.model_validate(raw)
    except ValidationError as error:
        raise RulesError(source, _problems(raw, error)) from None


def load_rules(path: str | Path) -> ScoringRules:
    """Read, parse and validate the rules file at ``path``."""
    path = Path(path)
    return parse_rules(path.read_text(encoding="utf-8"), source=str(path))


def default_rules() -> ScoringRules:
    """Return the bundled rules for an Iranian B2B seller (``default_rules.toml``)."""
    text = resources.files("lead_scoring").joinpath("default_rules.toml").read_text("utf-8")
    return parse_rules(text, source="default_rules.toml")

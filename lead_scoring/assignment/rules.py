"""The assignment rules file: its typed model, its validation and how it is loaded.

Rules are data. A TOML file (``lead_scoring/assignment_rules.toml`` is the default)
holds defaults for capacity and the first-response SLA, the office calendar, the teams
with their leads, and an ordered list of ``[[rules]]``. Each rule selects leads with
``when`` and says which agents may take them (team, skills, product line, languages,
territory); the first rule that leaves somebody after eligibility and capacity is the
rotation pool. A bad file raises :class:`AssignmentRulesError` naming the rule (by
position and name) and the field.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.locale import from_jalali, normalize_digits, normalize_text
from lead_scoring.assignment.calendar import BusinessCalendar

#: Lead fields a rule's ``when`` may test.
LeadField = Literal[
    "source", "campaign", "province", "city", "industry", "job_title", "grade", "status"
]
#: What happens when the first response is late after the reminder.
EscalateTo = Literal["next_agent", "team_lead"]
Weekday = Literal["saturday", "sunday", "monday", "tuesday", "wednesday", "thursday", "friday"]
WEEKDAYS: dict[str, int] = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
#: The default working week: Saturday to Wednesday.
IRANIAN_WEEK: tuple[Weekday, ...] = ("saturday", "sunday", "monday", "tuesday", "wednesday")
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Minutes = Annotated[float, Field(gt=0, le=60 * 24 * 30)]
#: Working minutes before a first-response deadline at which its warning fires; 0 is off.
LeadMinutes = Annotated[float, Field(ge=0, le=60 * 24 * 30)]
HOURS_PATTERN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def norm(value: str) -> str:
    """The form rule values and record values are compared in (Persian letters, case)."""
    return normalize_text(value).casefold()


def parse_hours(text: str) -> tuple[time, time]:
    """Parse ``"08:00-17:00"``; the start must be before the end."""
    match = HOURS_PATTERN.match(text.strip())
    if match is None:
        raise ValueError(f"hours {text!r} must look like 08:00-17:00")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h2 == 24 and m2 == 0:
        h2, m2 = 23, 59
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"hours {text!r} hold an impossible time") from None
    if start >= end:
        raise ValueError(f"hours {text!r} must start before they end")
    return start, end


def parse_holiday(text: str) -> date:
    """Parse a holiday: ISO Gregorian (2025-03-21) or Jalali when the year is below 1700."""
    parts = normalize_digits(text.strip()).split("-")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"holiday {text!r} must be written YYYY-MM-DD")
    year, month, day = (int(part) for part in parts)
    if year < 1700:
        return from_jalali(year, month, day)
    return date(year, month, day)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Model):
    """Values every rule inherits unless it sets its own."""

    max_open_leads: int | None = Field(default=None, ge=1)
    daily_quota: int | None = Field(default=None, ge=1)
    first_response_minutes: Minutes = 15
    warn_before_minutes: LeadMinutes = 0
    escalate_after_minutes: Minutes = 15
    escalate_to: EscalateTo = "next_agent"


class CalendarRules(_Model):
    """Office hours, working days (Saturday to Wednesday by default), Thursday and holidays."""

    hours: str = "08:00-17:00"
    workdays: list[Weekday] = Field(default_factory=lambda: list(IRANIAN_WEEK))
    thursday: str | None = None
    holidays: list[str] = Field(default_factory=list)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @field_validator("thursday")
    @classmethod
    def _thursday(cls, value: str | None) -> str | None:
        if value:
            parse_hours(value)
        return value or None

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_holiday(item)
        return value

    @model_validator(mode="after")
    def _some_day(self) -> CalendarRules:
        if not self.workdays and not self.thursday:
            raise ValueError("the calendar needs at least one working day")
        if "thursday" in self.workdays and self.thursday:
            raise ValueError("list thursday in workdays or give it its own hours, not both")
        return self

    def build(self) -> BusinessCalendar:
        """The calendar these settings describe."""
        hours = {WEEKDAYS[day]: parse_hours(self.hours) for day in self.workdays}
        if self.thursday:
            hours[WEEKDAYS["thursday"]] = parse_hours(self.thursday)
        return BusinessCalendar(hours, frozenset(parse_holiday(h) for h in self.holidays))


class Team(_Model):
    """A team and its lead, to whom late first responses may escalate."""

    lead: Annotated[str, Field(min_length=1, max_length=128)]


class Rule(_Model):
    """One assignment rule: which leads it takes and which agents may get them.

    ``when`` maps a lead field to the values it may have (compared without regard to
    case or Arabic/Persian letter forms); an empty ``when`` takes every lead. Agents must
    be in ``team`` (if set), have every one of ``skills`` and the ``product_line`` among
    their skills, speak one of ``languages`` (if any), and with ``territory`` cover the
    lead's province (an agent with no provinces covers all).
    """

    name: Name
    when: dict[LeadField, list[Annotated[str, Field(min_length=1)]]] = Field(default_factory=dict)
    team: str | None = None
    skills: list[str] = Field(default_factory=list)
    product_line: str | None = None
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(default_factory=list)
    territory: bool = True
    max_open_leads: int | None = Field(default=None, ge=1)
    daily_quota: int | None = Field(default=None, ge=1)
    first_response_minutes: Minutes | None = None
    warn_before_minutes: LeadMinutes | None = None
    escalate_after_minutes: Minutes | None = None
    escalate_to: EscalateTo | None = None

    @field_validator("when")
    @classmethod
    def _values(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for field, values in value.items():
            if not values:
                raise ValueError(f"when.{field} must list at least one value")
        return value

    def matches(self, lead: dict[str, Any]) -> bool:
        """Whether ``lead`` (a lead document) is one this rule takes."""
        for field, values in self.when.items():
            have = lead.get(field)
            if have is None or norm(str(have)) not in {norm(v) for v in values}:
                return False
        return True


class AssignmentRules(_Model):
    """The whole rules file."""

    defaults: Defaults = Field(default_factory=Defaults)
    calendar: CalendarRules = Field(default_factory=CalendarRules)
    teams: dict[str, Team] = Field(default_factory=dict)
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> AssignmentRules:
        seen: set[str] = set()
        for position, rule in enumerate(self.rules, 1):
            label = f"rule {position} ({rule.name!r})"
            if rule.name in seen:
                raise ValueError(f"{label}: the name is already used by an earlier rule")
            seen.add(rule.name)
            warn = self.warn_before_minutes(rule)
            if warn and warn >= self.first_response_minutes(rule):
                raise ValueError(
                    f"{label}: warn_before_minutes ({warn:g}) must be shorter than"
                    f" first_response_minutes ({self.first_response_minutes(rule):g})"
                )
            if self.escalate_to(rule) == "team_lead" and (
                rule.team is None or rule.team not in self.teams
            ):
                raise ValueError(
                    f"{label}: escalate_to = 'team_lead' needs a team listed under [teams]"
                )
        return self

    def escalate_to(self, rule: Rule) -> EscalateTo:
        """Where a rule escalates to, its own setting or the default."""
        return rule.escalate_to or self.defaults.escalate_to

    def first_response_minutes(self, rule: Rule | None) -> float:
        """The first-response SLA of a rule (the default when there is none)."""
        if rule is not None and rule.first_response_minutes is not None:
            return rule.first_response_minutes
        return self.defaults.first_response_minutes

    def warn_before_minutes(self, rule: Rule | None) -> float:
        """Working minutes before the first-response deadline to warn the owner; 0 is off."""
        if rule is not None and rule.warn_before_minutes is not None:
            return rule.warn_before_minutes
        return self.defaults.warn_before_minutes

    def escalate_after_minutes(self, rule: Rule | None) -> float:
        """Working minutes from the reminder to the escalation."""
        if rule is not None and rule.escalate_after_minutes is not None:
            return rule.escalate_after_minutes
        return self.defaults.escalate_after_minutes

    def rule(self, name: str | None) -> Rule | None:
        """The rule called ``name``, if there is one."""
        return next((rule for rule in self.rules if rule.name == name), None)


class AssignmentRulesError(ValueError):
    """The assignment rules file cannot be used; ``problems`` holds one line per mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid assignment rules in {source}:\n  " + "\n  ".join(problems))


def _problems(raw: dict[str, Any], error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = item["loc"]
        message = item["msg"].removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            index = loc[1]
            rules = raw.get("rules")
            name = None
            if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
                name = rules[index].get("name")
            label = f"rule {index + 1}" + (f" ({name!r})" if name else "")
            where = ".".join(str(part) for part in loc[2:])
            problems.append(f"{label}: {where + ': ' if where else ''}{message}")
        else:
            where = ".".join(str(part) for part in loc)
            problems.append(f"{where + ': ' if where else ''}{message}")
    return problems


def parse_assignment_rules(text: str, *, source: str = "<rules>") -> AssignmentRules:
    """Parse and validate an assignment rules file's TOML text; ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AssignmentRulesError(source, [f"not valid TOML: {error}"]) from error
    try:
        return AssignmentRules.model_validate(raw)
    except ValidationError as error:
        raise AssignmentRulesError(source, _problems(raw, error)) from None


def load_assignment_rules(path: str | Path) -> AssignmentRules:
    """Read, parse and validate the assignment rules file at ``path``."""
    path = Path(path)
    return parse_assignment_rules(path.read_text(encoding="utf-8"), source=str(path))


def default_assignment_rules() -> AssignmentRules:
    """The bundled rules (``lead_scoring/assignment_rules.toml``)."""
    text = resources.files("lead_scoring").joinpath("assignment_rules.toml").read_text("utf-8")
    return parse_assignment_rules(text, source="assignment_rules.toml")


__all__ = [
    "AssignmentRules",
    "AssignmentRulesError",
    "CalendarRules",
    "Defaults",
    "Rule",
    "Team",
    "default_assignment_rules",
    "load_assignment_rules",
    "norm",
    "parse_assignment_rules",
]

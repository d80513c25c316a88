"""Score one lead with a rules file, and explain every point of the result.

:func:`score` is the reference implementation: the bulk path in ``bulk.py`` must give
the same numbers. All arithmetic is on integer hundredths of a point, so the
explanation's lines add up to the scores exactly; when a group limit clips a score,
the clipping is a line of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from lead_scoring.decay import Decay, age_days, epoch_us
from lead_scoring.facts import EngagementEvent, LeadFacts
from lead_scoring.rules import EngagementRule, FitRule, ScoringRules, Threshold, cents

Group = Literal["fit", "engagement"]
QualificationLevel = Literal["none", "mql", "sql"]
QualificationEvent = Literal["lead.mql", "lead.sql"]

#: Fit letters from best to worst; engagement levels run 1 (best) to 3.
FIT_LETTERS = ("A", "B", "C", "D")
QUALIFICATION_LEVELS: tuple[QualificationLevel, ...] = ("none", "mql", "sql")


def to_points(hundredths: int) -> Decimal:
    """Return integer hundredths as a Decimal with two places (``1250`` -> ``12.50``)."""
    return Decimal(hundredths).scaleb(-2)


@lru_cache(maxsize=32)
def decay_for(half_life_days: float | None) -> Decay:
    """Return the (cached) decay table for a half-life."""
    return Decay.from_half_life(half_life_days)


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One term of a score: which rule gave how many points, when, and why.

    ``kind`` is ``"rule"`` for a rule's points (one line per matching event for event
    rules) and ``"limit"`` for the adjustment a group's ``max`` or ``min`` made; then
    ``rule`` is ``fit.max``, ``fit.min``, ``engagement.max`` or ``engagement.min``.
    ``at`` is the event's time for events, when the silence began to count for silence
    rules, and the scoring time otherwise.
    """

    rule: str
    group: Group
    kind: Literal["rule", "limit"]
    points: Decimal
    at: datetime
    detail: str

    def as_dict(self) -> dict[str, str]:
        """Return the line as JSON-ready text (points as an exact decimal string)."""
        return {
            "rule": self.rule,
            "group": self.group,
            "kind": self.kind,
            "points": str(self.points),
            "at": self.at.isoformat(),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ScoreResult:
    """A lead's scores, grade, qualification and the explanation that adds up to them.

    ``fit`` and ``engagement`` are each the sum of their group's lines in
    ``explanation``; ``total`` is their sum. ``grade`` is a fit letter and an engagement
    level such as ``"B1"``.
    """

    fit: Decimal
    engagement: Decimal
    total: Decimal
    grade: str
    qualification: QualificationLevel
    explanation: tuple[ScoreLine, ...]
    scored_at: datetime

    def points_by_rule(self) -> dict[str, Decimal]:
        """Return the points of each rule that gave any (limits included), summed over events."""
        totals: dict[str, Decimal] = {}
        for line in self.explanation:
            totals[line.rule] = totals.get(line.rule, Decimal("0.00")) + line.points
        return totals

    def as_dict(self) -> dict[str, object]:
        """Return the result as JSON-ready data, for storage and ``GET /v1/leads/{id}/score``."""
        return {
            "fit": str(self.fit),
            "engagement": str(self.engagement),
            "total": str(self.total),
            "grade": self.grade,
            "qualification": self.qualification,
            "scored_at": self.scored_at.isoformat(),
            "explanation": [line.as_dict() for line in self.explanation],
        }


def fit_letter(fit_hundredths: int, rules: ScoringRules) -> str:
    """Return the fit letter (A-D) for a fit score in hundredths."""
    bounds = rules.grades.fit
    for letter, lowest in zip(FIT_LETTERS, (bounds.A, bounds.B, bounds.C), strict=False):
        if fit_hundredths >= cents(lowest):
            return letter
    return FIT_LETTERS[-1]


def engagement_level(engagement_hundredths: int, rules: ScoringRules) -> int:
    """Return the engagement level (1 best, 3 worst) for an engagement score in hundredths."""
    levels = rules.grades.engagement
    if engagement_hundredths >= cents(levels.level_1):
        return 1
    if engagement_hundredths >= cents(levels.level_2):
        return 2
    return 3


def _meets(threshold: Threshold, fit: int, engagement: int) -> bool:
    return all(
        lowest is None or value >= cents(lowest)
        for value, lowest in (
            (fit + engagement, threshold.min_total),
            (fit, threshold.min_fit),
            (engagement, threshold.min_engagement),
        )
    )


def qualification(fit: int, engagement: int, rules: ScoringRules) -> QualificationLevel:
    """Return ``"sql"``, ``"mql"`` or ``"none"`` for scores in hundredths."""
    if _meets(rules.qualification.sql, fit, engagement):
        return "sql"
    if _meets(rules.qualification.mql, fit, engagement):
        return "mql"
    return "none"


def threshold_events(
    old: QualificationLevel | None, new: QualificationLevel
) -> list[QualificationEvent]:
    """Return the events to publish when a lead's qualification changes from ``old`` to ``new``.

    Only upward crossings are events: ``none -> sql`` gives ``["lead.mql", "lead.sql"]``,
    ``mql -> sql`` gives ``["lead.sql"]``, and a fall (decay, a changed profile) gives
    nothing. ``old`` is None for a lead never scored before.
    """
    before = QUALIFICATION_LEVELS.index(old or "none")
    after = QUALIFICATION_LEVELS.index(new)
    crossed: list[QualificationEvent] = []
    if before < 1 <= after:
        crossed.append("lead.mql")
    if before < 2 <= after:
        crossed.append("lead.sql")
    return crossed


def _limit(
    group: Group, raw: int, low: Decimal | None, high: Decimal | None, now: datetime
) -> tuple[int, ScoreLine | None]:
    """Clip a group's raw sum to its limits and return the clipped sum and the line saying so."""
    if high is not None and raw > cents(high):
        adjustment, bound, name = cents(high) - raw, high, "max"
    elif low is not None and raw < cents(low):
        adjustment, bound, name = cents(low) - raw, low, "min"
    else:
        return raw, None
    detail = f"{group} rules gave {to_points(raw)}; {name} is {bound}"
    line = ScoreLine(f"{group}.{name}", group, "limit", to_points(adjustment), now, detail)
    return raw + adjustment, line


def _fit_lines(lead: LeadFacts, rules: Sequence[FitRule], now: datetime) -> list[ScoreLine]:
    lines = []
    for rule in rules:
        if rule.matches(lead):
            detail = ", ".join(f"{c.field}={lead.value(c.field)!r}" for c in rule.conditions)
            points = to_points(cents(rule.points))
            lines.append(ScoreLine(rule.name, "fit", "rule", points, now, detail))
    return lines


def _event_lines(
    rule: EngagementRule, newest_first: Sequence[EngagementEvent], decay: Decay, now_us: int
) -> list[ScoreLine]:
    matching = [event for event in newest_first if rule.counts(event.type)]
    lines = []
    for event in matching[: rule.max_times]:
        days = age_days(now_us, epoch_us(event.at))
        points = decay.decayed(cents(rule.points), days)
        if points == 0:
            continue
        detail = event.type
        if decay.half_life_days is not None:
            half_life = f"{decay.half_life_days:g}"
            age = f"{days} day{'' if days == 1 else 's'} old"
            detail += f", {age}: {rule.points} x 0.5^({days}/{half_life})"
        line = ScoreLine(rule.name, "engagement", "rule", to_points(points), event.at, detail)
        lines.append(line)
    return lines


def _silence_line(
    rule: EngagementRule,
    newest_first: Sequence[EngagementEvent],
    created_at: datetime,
    now: datetime,
) -> ScoreLine | None:
    assert rule.silent_days is not None
    answer = next((event for event in newest_first if rule.counts(event.type)), None)
    last = created_at if answer is None else answer.at
    silent = timedelta(days=rule.silent_days)
    if now - last < silent:
        return None
    since = "lead created" if answer is None else f"last {answer.type}"
    detail = f"no answer for {rule.silent_days}+ days ({since} {last.isoformat()})"
    points = to_points(cents(rule.points))
    return ScoreLine(rule.name, "engagement", "rule", points, last + silent, detail)


def _engagement_lines(
    lead: LeadFacts, events: Sequence[EngagementEvent], rules: ScoringRules, now: datetime
) -> list[ScoreLine]:
    newest_first = sorted(events, key=lambda event: event.at, reverse=True)
    decay = decay_for(rules.engagement.half_life_days)
    now_us = epoch_us(now)
    lines: list[ScoreLine] = []
    for rule in rules.engagement.rules:
        if rule.is_silence:
            lines += _optional(_silence_line(rule, newest_first, lead.created_at, now))
        else:
            lines.extend(_event_lines(rule, newest_first, decay, now_us))
    return lines


def _optional(line: ScoreLine | None) -> list[ScoreLine]:
    return [] if line is None else [line]


def _sum(lines: Sequence[ScoreLine]) -> int:
    return sum(cents(line.points) for line in lines)


def score(
    lead: LeadFacts,
    events: Sequence[EngagementEvent],
    rules: ScoringRules,
    now: datetime,
) -> ScoreResult:
    """Score ``lead`` and its engagement ``events`` with ``rules`` as of ``now``.

    ``now`` must be timezone-aware; it sets the events' ages and the silence clocks, so
    the same inputs and ``now`` always give the same result.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    fit_lines = _fit_lines(lead, rules.fit.rules, now)
    fit, fit_limit = _limit("fit", _sum(fit_lines), rules.fit.min, rules.fit.max, now)
    engagement_lines = _engagement_lines(lead, events, rules, now)
    group = rules.engagement
    engagement, engagement_limit = _limit(
        "engagement", _sum(engagement_lines), group.min, group.max, now
    )
    explanation = [*fit_lines, *_optional(fit_limit), *engagement_lines]
    explanation += _optional(engagement_limit)
    return ScoreResult(
        fit=to_points(fit),
        engagement=to_points(engagement),
        total=to_points(fit + engagement),
        grade=f"{fit_letter(fit, rules)}{engagement_level(engagement, rules)}",
        qualification=qualification(fit, engagement, rules),
        explanation=tuple(explanation),
        scored_at=now,
    )

"""A generated conversion history of an online-education business, with engagement.

The second evaluation set beside bank-marketing, made to exercise what bank-marketing
lacks: custom fields (occupation, how the lead heard of us, time on the site, pages
viewed, the newsletter box), channel and country, and a timeline of events (WhatsApp
replies, our calls) before each outcome, plus events
after it (a won customer keeps calling) that a model must not learn from.

Whether a lead converts follows a known logistic ground truth with a few non-linear
terms (time on the site matters only past a few minutes, replies saturate, a first
response within two hours helps, working referrals convert better), so the figures of
different models are comparable and reproducible from the seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lead_scoring.facts import AttributeValue, EngagementEvent

#: The custom attributes the generated leads carry, as declared in the settings.
ATTRIBUTES: dict[str, dict[str, object]] = {
    "occupation": {
        "type": "choice",
        "choices": ["student", "unemployed", "working", "business", "housewife"],
    },
    "heard_from": {"type": "text"},
    "time_on_site": {"type": "number"},
    "pages_viewed": {"type": "number"},
    "newsletter": {"type": "boolean"},
}

_SOURCES = ("google", "facebook", "referral", "organic", "chat", "direct")
_OCCUPATIONS = ("student", "unemployed", "working", "business", "housewife", None)
_HEARD = ("online search", "a friend", "advertisement", "news", None)
_COUNTRIES = ("IR", "IR", "IR", "AE", "TR", "DE", None)


@dataclass(frozen=True)
class GeneratedLead:
    """One generated lead: its profile, its events, and when and how it was decided."""

    created_at: datetime
    decided_at: datetime
    source: str
    channel: str
    country: str | None
    attributes: dict[str, AttributeValue]
    events: list[EngagementEvent]
    converted: bool


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def online_courses(count: int = 20_000, *, seed: int = 2026) -> list[GeneratedLead]:
    """Return ``count`` leads in the order they were created, over one year."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    leads = []
    for number in range(count):
        created = start + timedelta(days=365 * number / count, seconds=rng.randrange(3600))
        decided = created + timedelta(days=rng.uniform(5, 30))
        source = rng.choice(_SOURCES)
        channel = rng.choice(("web", "web", "whatsapp", "phone"))
        occupation = rng.choice(_OCCUPATIONS)
        seconds = 0.0 if rng.random() < 0.3 else round(rng.lognormvariate(5.5, 1.2), 1)
        pages = 0 if seconds == 0 else rng.randrange(1, 15)
        attributes: dict[str, AttributeValue] = {"time_on_site": seconds, "pages_viewed": pages}
        if occupation is not None:
            attributes["occupation"] = occupation
        heard = rng.choice(_HEARD)
        if heard is not None:
            attributes["heard_from"] = heard
        if rng.random() < 0.7:
            attributes["newsletter"] = rng.random() < 0.4
        span = (decided - created).total_seconds()
        events: list[EngagementEvent] = []
        first_call = created + timedelta(hours=rng.choice((0.5, 1.5, 5, 30, 80)))
        called = rng.random() < 0.8 and first_call < decided
        if called:
            events.append(EngagementEvent("call_answered", first_call, direction="outbound"))
        replies = min(rng.randrange(6), rng.randrange(6))
        for _ in range(replies):
            at = created + timedelta(seconds=rng.uniform(0.05, 0.95) * span)
            events.append(EngagementEvent("whatsapp_reply", at, direction="inbound"))
        logit = -1.6
        logit += {"working": 1.3, "business": 0.9, "student": -0.6, "unemployed": 0.2}.get(
            occupation or "", -0.3
        )
        logit += {"referral": 0.9, "organic": 0.3, "chat": 0.6, "facebook": -0.5}.get(source, 0.0)
        logit += 1.4 if seconds > 400 else (0.4 if seconds > 120 else -0.4)
        logit += 0.9 * min(replies, 3) - 0.6
        if called and (first_call - created) <= timedelta(hours=2):
            logit += 0.8
        if occupation == "working" and source == "referral":
            logit += 0.6
        logit += 0.3 if heard == "a friend" else 0.0
        logit += 0.4 * math.sin(number / count * 2 * math.pi)
        converted = rng.random() < _sigmoid(logit)
        if converted:
            for call in range(rng.randrange(2, 6)):
                later = decided + timedelta(hours=2 + 20 * call)
                events.append(EngagementEvent("call_answered", later, direction="inbound"))
        country = rng.choice(_COUNTRIES)
        leads.append(
            GeneratedLead(created, decided, source, channel, country, attributes, events, converted)
        )
    return leads


__all__ = ["ATTRIBUTES", "GeneratedLead", "online_courses"]

"""Random but plausible leads and events, for benchmarks and equivalence tests.

The values mix the spellings real CRM data has (Arabic and Persian letter forms,
Persian digits, missing fields) so that both scoring paths are exercised on them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from lead_scoring.facts import EngagementEvent, LeadFacts

INDUSTRIES = (
    "تولیدی", "صنعتي", "معدن", "Manufacturing", "ساختمان", "نفت و گاز", "پتروشیمی",
    "خدمات", "بازرگانی", "نرم‌افزار", "کشاورزی", "",
)  # fmt: skip
PROVINCES = (
    "تهران", "البرز", "اصفهان", "خراسان رضوی", "فارس", "آذربایجان شرقی",
    "خوزستان", "گيلان", "کرمان", "يزد",
)  # fmt: skip
SOURCES = ("website", "whatsapp", "referral", "exhibition", "نمایشگاه", "instagram", "cold call")
JOB_TITLES = (
    "مدیر عامل", "مدير خرید", "کارشناس فنی", "Purchasing Manager", "CEO", "دانشجو",
    "کارآموز", "مهندس فروش", "رئیس هیئت مدیره", "",
)  # fmt: skip
EVENT_TYPES = (
    "form_submitted", "email_opened", "email_opened", "email_opened", "email_clicked",
    "whatsapp_reply", "demo_booked", "meeting_held", "meeting_on_site", "unsubscribed",
    "call_answered", "web_visit", "web_page_view",
)  # fmt: skip


def _maybe(rng: random.Random, value: str) -> str | None:
    return None if rng.random() < 0.1 else value


def synthetic_leads(
    count: int, *, seed: int, now: datetime, max_events: int = 12
) -> tuple[list[LeadFacts], list[list[EngagementEvent]]]:
    """Return ``count`` leads created up to 400 days before ``now`` and their events.

    Each lead has between 0 and ``max_events`` events between its creation and ``now``
    (a few slightly after ``now``, as clock skew gives). The same seed gives the same data.
    """
    rng = random.Random(seed)
    leads: list[LeadFacts] = []
    events: list[list[EngagementEvent]] = []
    for _ in range(count):
        created = now - timedelta(seconds=rng.randrange(400 * 86_400))
        size = rng.choice((None, rng.randrange(1, 20), rng.randrange(20, 400), 50, 200))
        budget = rng.choice((None, Decimal(rng.randrange(0, 80)) * 100_000_000, Decimal(10**9)))
        leads.append(
            LeadFacts(
                created_at=created,
                source=_maybe(rng, rng.choice(SOURCES)),
                campaign=_maybe(rng, f"campaign-{rng.randrange(5)}"),
                province=_maybe(rng, rng.choice(PROVINCES)),
                city=None,
                industry=_maybe(rng, rng.choice(INDUSTRIES)),
                job_title=_maybe(rng, rng.choice(JOB_TITLES)),
                company_size=size,
                budget=budget,
            )
        )
        span = int((now - created).total_seconds()) + 3600
        events.append(
            [
                EngagementEvent(
                    type=rng.choice(EVENT_TYPES),
                    at=created + timedelta(seconds=rng.randrange(span)),
                )
                for _ in range(rng.randrange(max_events + 1))
            ]
        )
    return leads, events

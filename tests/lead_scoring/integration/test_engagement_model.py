"""The model learns from engagement before each outcome, and nothing after it leaks in."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from core.sync.runtime import SyncRuntime
from lead_scoring.service import train
from lead_scoring.settings import LeadScoringSettings
from lead_scoring.store import get_score, latest_model
from tests.lead_scoring.integration.conftest import drain, put

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
START = NOW - timedelta(days=300)


def closed_history(runtime: SyncRuntime, *, after_outcome: bool, count: int = 160) -> None:
    """Closed leads whose WhatsApp replies before closing make them convert more often.

    With ``after_outcome``, every won lead also gets ten inbound calls after it closed
    (the customer calling about delivery): known only once the outcome was.
    """
    rng = random.Random(17)
    for number in range(count):
        lead_id = f"H-{number:03d}"
        created = START + timedelta(days=rng.uniform(0, 200))
        closed = created + timedelta(days=rng.uniform(10, 40))
        replies = rng.randrange(4)
        won = rng.random() < (0.8 if replies >= 2 else 0.15)
        body = {
            "source": rng.choice(["web", "referral"]),
            "status": "converted" if won else "lost",
            "closed_at": closed.isoformat(),
        }
        put(runtime, "lead", lead_id, body)
        for reply in range(replies):
            at = created + (closed - created) * rng.uniform(0.1, 0.9)
            interaction = {
                "lead_id": lead_id,
                "channel": "whatsapp",
                "direction": "inbound",
                "occurred_at": at.isoformat(),
            }
            put(runtime, "interaction", f"I-{number}-{reply}", interaction)
        if won and after_outcome:
            for call in range(10):
                later = closed + timedelta(hours=1 + call)
                interaction = {
                    "lead_id": lead_id,
                    "channel": "call",
                    "direction": "inbound",
                    "occurred_at": later.isoformat(),
                }
                put(runtime, "interaction", f"L-{number}-{call}", interaction)


def trained(runtime: SyncRuntime) -> str:
    settings = runtime.host.context("lead_scoring").settings
    assert isinstance(settings, LeadScoringSettings)
    outcome = train(runtime.engine, settings, now=NOW)
    assert outcome.model is not None, outcome.reason
    stored = latest_model(runtime.engine)
    assert stored is not None
    return stored.model


def test_events_after_the_outcome_do_not_reach_the_model(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    clean = scoring_runtime(min_history=50, model_min_count=5)
    closed_history(clean, after_outcome=False)
    leaky = scoring_runtime(min_history=50, model_min_count=5)
    closed_history(leaky, after_outcome=True)
    clean_model, leaky_model = trained(clean), trained(leaky)
    assert '"events.call_answered"' not in leaky_model
    assert clean_model == leaky_model


def test_engagement_before_the_outcome_is_learned_and_used_on_open_leads(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    runtime = scoring_runtime(min_history=50, model_min_count=5, top_factors=1)
    closed_history(runtime, after_outcome=True)
    model = trained(runtime)
    assert '"events.whatsapp_reply"' in model
    put(runtime, "lead", "OPEN-1", {"source": "web"})
    put(runtime, "lead", "OPEN-2", {"source": "web"})
    for reply in range(3):
        at = NOW - timedelta(days=2 + reply)
        body = {
            "lead_id": "OPEN-1",
            "channel": "whatsapp",
            "direction": "inbound",
            "occurred_at": at.isoformat(),
        }
        put(runtime, "interaction", f"O-{reply}", body)
    drain(runtime)
    trained(runtime)
    engaged, quiet = get_score(runtime.engine, "OPEN-1"), get_score(runtime.engine, "OPEN-2")
    assert engaged is not None and engaged.prediction is not None
    assert quiet is not None and quiet.prediction is not None
    assert engaged.prediction.probability > 0.5 > quiet.prediction.probability
    assert engaged.prediction.factors[0]["feature"].startswith("events.whatsapp_reply")

"""``score --all`` against the per-lead job, and the predictive model trained from history."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import lead_scoring.plugin as lead_scoring_plugin
from core.cli import app
from core.store import timeline
from core.sync.runtime import SyncRuntime
from lead_scoring.service import percent, train
from lead_scoring.settings import LeadScoringSettings
from lead_scoring.store import get_score, latest_model
from lead_scoring.training import MODEL_CHECK_SECONDS
from tests.lead_scoring.integration.conftest import drain, lead_data, put

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
INDUSTRIES = ["تولیدی", "معدن", "ساختمان", "retail", None]
PROVINCES = ["تهران", "فارس", "گیلان", None]
TITLES = ["مدیر فنی", "کارشناس", "دانشجو", None]
CHANNELS = [
    ("whatsapp", "inbound"),
    ("visit", "inbound"),
    ("email", "inbound"),
    ("note", "outbound"),
]


#: A profile the default rules like: big manufacturer in Tehran, a buyer, a large budget.
GOOD_PROFILE = {
    "industry": "تولیدی",
    "company_size": 250,
    "province": "تهران",
    "job_title": "مدیر خرید",
    "budget": "6000000000",
    "source": "referral",
}


def random_lead(rng: random.Random) -> dict[str, Any]:
    """A lead with a random profile (every field may be missing)."""
    return {
        "contact_name": "لید آزمایشی",
        "industry": rng.choice(INDUSTRIES),
        "province": rng.choice(PROVINCES),
        "job_title": rng.choice(TITLES),
        "company_size": rng.choice([None, 5, 30, 120, 400]),
        "budget": rng.choice([None, "500000000", "2000000000", "9000000000"]),
        "source": rng.choice(["referral", "website", None]),
    }


def fill(runtime: SyncRuntime, count: int, seed: int = 3) -> list[str]:
    """Store ``count`` random leads with up to 6 interactions each; return their ids."""
    rng = random.Random(seed)
    ids = []
    for number in range(count):
        lead_id = f"L-{number:03d}"
        put(runtime, "lead", lead_id, random_lead(rng))
        for event in range(rng.randrange(7)):
            channel, direction = rng.choice(CHANNELS)
            at = NOW - timedelta(days=rng.uniform(0, 60))
            body = {
                "lead_id": lead_id,
                "channel": channel,
                "direction": direction,
                "occurred_at": at.isoformat(),
            }
            put(runtime, "interaction", f"I-{number}-{event}", body)
        ids.append(lead_id)
    return ids


def test_rescore_all_equals_the_per_lead_job(runtime: SyncRuntime) -> None:
    ids = fill(runtime, 80)
    job = lead_scoring_plugin.scorer(runtime.host.context("lead_scoring"))
    outcome = job.rescore_all(chunk=30, now=NOW)
    assert (outcome.leads, outcome.changed) == (80, 80)
    bulk = {lead_id: get_score(runtime.engine, lead_id) for lead_id in ids}
    fields = {lead_id: lead_data(runtime, lead_id) for lead_id in ids}
    per_lead = {scored.lead_id: scored for scored in job.score_ids(ids, now=NOW)}
    for lead_id in ids:
        stored, one = bulk[lead_id], per_lead[lead_id]
        assert stored is not None
        assert (stored.fit, stored.engagement, stored.total) == (
            one.result.fit,
            one.result.engagement,
            one.result.total,
        )
        assert (stored.grade, stored.qualification) == (one.result.grade, one.result.qualification)
        assert stored.explanation == [line.as_dict() for line in one.result.explanation]
        assert not one.written
        assert one.events == ()
        assert fields[lead_id]["score"] == lead_data(runtime, lead_id)["score"]
    assert len({stored.total for stored in bulk.values() if stored}) > 10


def test_rescore_all_writes_back_only_what_changed(runtime: SyncRuntime) -> None:
    fill(runtime, 40)
    job = lead_scoring_plugin.scorer(runtime.host.context("lead_scoring"))
    job.rescore_all(now=NOW)
    versions = {i: lead_data(runtime, i) for i in (f"L-{n:03d}" for n in range(40))}
    again = job.rescore_all(now=NOW)
    assert (again.leads, again.changed, again.written, again.events) == (40, 0, 0, 0)
    before = get_score(runtime.engine, "L-007")
    assert before is not None
    changed = {**versions["L-007"], **GOOD_PROFILE}
    put(runtime, "lead", "L-007", changed)
    later = job.rescore_all(now=NOW)
    assert (later.changed, later.written) == (1, 1)
    after = get_score(runtime.engine, "L-007")
    assert after is not None and after.fit > before.fit
    assert lead_data(runtime, "L-007")["fit_score"] == percent(after.fit)


def test_rescore_all_lets_old_engagement_fade(runtime: SyncRuntime) -> None:
    ids = fill(runtime, 40)
    job = lead_scoring_plugin.scorer(runtime.host.context("lead_scoring"))
    job.rescore_all(now=NOW)
    engaged = {
        lead_id: score.engagement
        for lead_id in ids
        if (score := get_score(runtime.engine, lead_id)) is not None and score.engagement > 0
    }
    assert engaged
    later = job.rescore_all(now=NOW + timedelta(days=90))
    assert later.changed >= len(engaged)
    for lead_id, engagement in engaged.items():
        faded = get_score(runtime.engine, lead_id)
        assert faded is not None and faded.engagement < engagement
        assert lead_data(runtime, lead_id)["engagement_score"] == percent(faded.engagement)


def test_rescore_all_publishes_threshold_events_once(runtime: SyncRuntime) -> None:
    ids = fill(runtime, 40)
    job = lead_scoring_plugin.scorer(runtime.host.context("lead_scoring"))
    first = job.rescore_all(now=NOW)
    job.rescore_all(now=NOW)
    drain(runtime)
    events = [
        event.data["type"]
        for lead_id in ids
        for event in timeline(runtime.engine, "lead", lead_id)
        if event.data["type"] in ("lead.mql", "lead.sql")
    ]
    assert first.events == len(events) > 0


def test_score_command_rescores_every_lead_with_a_progress_bar(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime: SyncRuntime
) -> None:
    for name in list(os.environ):
        if name.startswith("CRM_SYNC_"):
            monkeypatch.delenv(name)
    ids = fill(runtime, 25)
    env = {"CRM_SYNC_DATABASE_URL": str(runtime.engine.url), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["score", "--all"], env=env)
    assert result.exit_code == 0, result.output
    assert "rescored 25 leads: 25 changed" in " ".join(result.stdout.split())
    assert all(get_score(runtime.engine, lead_id) is not None for lead_id in ids)
    nothing = CliRunner().invoke(app, ["score"], env=env)
    assert nothing.exit_code == 2
    assert "--train, --all or --lead" in nothing.output


# -- the predictive model ------------------------------------------------------------------


def history(runtime: SyncRuntime, count: int, seed: int = 11) -> None:
    """Closed leads where manufacturers and referrals convert far more often."""
    rng = random.Random(seed)
    for number in range(count):
        body = random_lead(rng)
        good = body["industry"] == "تولیدی" or body["source"] == "referral"
        won = rng.random() < (0.7 if good else 0.15)
        body["status"] = "converted" if won else rng.choice(["lost", "unqualified"])
        put(runtime, "lead", f"H-{number:03d}", body)


def test_training_stores_a_dated_model_and_predicts_every_lead(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    runtime = scoring_runtime(min_history=50, model_min_count=5, top_factors=2)
    history(runtime, 160)
    put(runtime, "lead", "NEW-1", {"contact_name": "x", "industry": "تولیدی", "source": "referral"})
    put(runtime, "lead", "NEW-2", {"contact_name": "y", "industry": "retail", "source": "website"})
    drain(runtime)
    settings = runtime.host.context("lead_scoring").settings
    assert isinstance(settings, LeadScoringSettings)
    outcome = train(runtime.engine, settings, now=NOW)
    assert outcome.model is not None
    assert outcome.history == 160
    assert outcome.predicted == 162
    stored = latest_model(runtime.engine)
    assert stored is not None and stored.trained_at == NOW
    good, poor = get_score(runtime.engine, "NEW-1"), get_score(runtime.engine, "NEW-2")
    assert good is not None and good.prediction is not None
    assert poor is not None and poor.prediction is not None
    assert good.prediction.probability > 0.5 > poor.prediction.probability
    assert len(good.prediction.factors) == 2
    assert {f["feature"] for f in good.prediction.factors} <= {"industry", "source"}


def test_training_is_reproducible(scoring_runtime: Callable[..., SyncRuntime]) -> None:
    runtime = scoring_runtime(min_history=50, model_min_count=5)
    history(runtime, 120)
    drain(runtime)
    settings = runtime.host.context("lead_scoring").settings
    assert isinstance(settings, LeadScoringSettings)
    first = train(runtime.engine, settings, now=NOW)
    before = get_score(runtime.engine, "H-005")
    second = train(runtime.engine, settings, now=NOW + timedelta(days=1))
    after = get_score(runtime.engine, "H-005")
    assert first.model is not None and second.model is not None
    assert first.model.id != second.model.id
    assert first.model.digest == second.model.digest
    assert before is not None and after is not None
    assert before.prediction is not None and after.prediction is not None
    assert before.prediction.probability == after.prediction.probability
    assert after.prediction.model_id == second.model.id


def test_a_new_lead_gets_the_latest_model_s_probability_from_the_job(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    runtime = scoring_runtime(min_history=50, model_min_count=5)
    history(runtime, 120)
    drain(runtime)
    context = runtime.host.context("lead_scoring")
    settings = context.settings
    assert isinstance(settings, LeadScoringSettings)
    models = lead_scoring_plugin.scorer(context).models
    ticks = [0.0]
    models.monotonic = lambda: ticks[0]
    put(runtime, "lead", "NEW-0", {"contact_name": "x", "industry": "تولیدی"})
    drain(runtime)  # no model yet: that is kept for MODEL_CHECK_SECONDS
    trained = train(runtime.engine, settings)  # elsewhere: this process is not told
    put(runtime, "lead", "NEW-1", {"contact_name": "x", "industry": "تولیدی"})
    drain(runtime)
    unseen = get_score(runtime.engine, "NEW-1")
    assert unseen is not None and unseen.prediction is None
    ticks[0] += MODEL_CHECK_SECONDS
    put(runtime, "lead", "NEW-1", {"contact_name": "y", "industry": "تولیدی"})
    drain(runtime)
    stored = get_score(runtime.engine, "NEW-1")
    assert stored is not None and stored.prediction is not None and trained.model is not None
    assert stored.prediction.model_id == trained.model.id
    assert stored.total == Decimal("15.00")


@pytest.mark.parametrize(
    ("count", "reason"),
    [(10, "10 won or lost leads; at least 50 are needed"), (0, "0 won or lost leads")],
)
def test_too_little_history_trains_nothing(
    scoring_runtime: Callable[..., SyncRuntime], count: int, reason: str
) -> None:
    runtime = scoring_runtime(min_history=50)
    history(runtime, count)
    settings = runtime.host.context("lead_scoring").settings
    assert isinstance(settings, LeadScoringSettings)
    outcome = train(runtime.engine, settings)
    assert outcome.model is None
    assert outcome.reason.startswith(reason)
    assert latest_model(runtime.engine) is None


def test_one_sided_history_trains_nothing(scoring_runtime: Callable[..., SyncRuntime]) -> None:
    runtime = scoring_runtime(min_history=5)
    for number in range(10):
        put(runtime, "lead", f"H-{number}", {"contact_name": "x", "status": "lost"})
    settings = runtime.host.context("lead_scoring").settings
    assert isinstance(settings, LeadScoringSettings)
    assert train(runtime.engine, settings).reason == "the history holds only one outcome"


def test_won_opportunities_count_as_conversions(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    from lead_scoring.service import training_history

    runtime = scoring_runtime()
    put(runtime, "lead", "A", {"contact_name": "a", "status": "qualified"})
    put(runtime, "lead", "B", {"contact_name": "b", "status": "lost"})
    put(runtime, "lead", "C", {"contact_name": "c", "status": "new"})
    opportunity = {"customer_id": "C-1", "title": "t", "stage": "won", "status": "won"}
    put(runtime, "opportunity", "O-1", {**opportunity, "lead_id": "A"})
    assert training_history(runtime.engine).outcomes == [1, 0]


def test_periodic_jobs_retrain_and_rescore(scoring_runtime: Callable[..., SyncRuntime]) -> None:
    runtime = scoring_runtime(min_history=50, model_min_count=5, retrain_hours=6)
    history(runtime, 120)
    jobs = {job.name: job for job in lead_scoring_plugin.periodic_jobs(runtime)}
    assert set(jobs) == {"lead_scoring.retrain", "lead_scoring.rescore"}
    assert jobs["lead_scoring.retrain"].interval == 6 * 3600
    jobs["lead_scoring.rescore"].run()
    assert get_score(runtime.engine, "H-001") is not None
    jobs["lead_scoring.retrain"].run()
    assert latest_model(runtime.engine) is not None
    off = scoring_runtime(retrain_hours=0, rescore_hours=0)
    assert lead_scoring_plugin.periodic_jobs(off) == []

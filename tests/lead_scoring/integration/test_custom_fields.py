"""Custom attributes, channel and country reach the rules and the model; minimal leads score."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import lead_scoring.plugin as lead_scoring_plugin
from core.errors import ConfigurationError
from core.settings import Settings
from core.sync.runtime import SyncRuntime
from lead_scoring.service import train
from lead_scoring.settings import LeadScoringSettings
from lead_scoring.store import get_score
from tests.lead_scoring.integration.conftest import drain, put

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

RULES = """
version = 1
[fit]
max = 50
min = 0
[[fit.rules]]
name = "Working professional"
field = "attributes.occupation"
in = ["working"]
points = 20
[[fit.rules]]
name = "Long visit"
field = "attributes.time_on_site"
at_least = 600
points = 10
[[fit.rules]]
name = "Came by referral"
field = "channel"
in = ["referral"]
points = 5
[[fit.rules]]
name = "Outside Iran"
field = "country"
not_in = ["IR"]
points = -5
[[fit.rules]]
name = "Wants the newsletter"
field = "attributes.newsletter"
in = ["true"]
points = 1
[engagement]
max = 50
min = 0
[[engagement.rules]]
name = "Form"
events = ["form_submitted"]
points = 5
[grades.fit]
A = 35
B = 20
C = 10
[grades.engagement]
1 = 25
2 = 10
[qualification.mql]
min_total = 30
[qualification.sql]
min_total = 60
"""


DECLARED = {
    "lead": {
        "occupation": {"type": "choice", "choices": ["student", "working"]},
        "time_on_site": {"type": "number"},
        "newsletter": {"type": "boolean"},
    }
}


def test_a_minimal_lead_from_a_web_form_is_scored(runtime: SyncRuntime) -> None:
    put(runtime, "lead", "W-1", {"source": "landing-page"})
    put(runtime, "lead", "W-2", {"channel": "web"})
    drain(runtime)
    for lead_id in ("W-1", "W-2"):
        stored = get_score(runtime.engine, lead_id)
        assert stored is not None and stored.total >= 0


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_rules_on_attributes_channel_and_country_match_on_both_paths(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    tmp_path: Path,
    database: str,
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    url = {} if database == "sqlite" else {"database_url": request.getfixturevalue("postgres_url")}
    settings = make_settings(
        plugins={"lead_scoring": {"rules_file": str(rules)}}, attributes=DECLARED, **url
    )
    runtime = make_runtime(settings, {"lead_scoring": lead_scoring_plugin})
    bodies = {
        "A": {
            "source": "web",
            "channel": "referral",
            "country": "DE",
            "attributes": {"occupation": "working", "time_on_site": 900, "newsletter": True},
        },
        "B": {"source": "web", "attributes": {"occupation": "student", "time_on_site": 30}},
        "C": {"source": "web", "country": "IR", "attributes": {"newsletter": False}},
    }
    for lead_id, body in bodies.items():
        put(runtime, "lead", lead_id, body)
    drain(runtime)
    by_job = {lead_id: get_score(runtime.engine, lead_id) for lead_id in bodies}
    assert {k: (v.fit if v else None) for k, v in by_job.items()} == {
        "A": 31,
        "B": 0,
        "C": 0,
    }
    a = by_job["A"]
    assert a is not None
    assert {line["rule"] for line in a.explanation} == {
        "Working professional",
        "Long visit",
        "Came by referral",
        "Outside Iran",
        "Wants the newsletter",
    }
    job = lead_scoring_plugin.scorer(runtime.host.context("lead_scoring"))
    again = job.rescore_all(now=NOW)
    assert again.leads == 3
    for lead_id in bodies:
        stored, before = get_score(runtime.engine, lead_id), by_job[lead_id]
        assert stored is not None and before is not None and stored.fit == before.fit


def test_the_model_learns_from_custom_attributes(
    scoring_runtime: Callable[..., SyncRuntime],
) -> None:
    runtime = scoring_runtime(min_history=50, model_min_count=5, top_factors=1)
    rng = random.Random(5)
    for number in range(200):
        occupation = rng.choice(["working", "student", "unemployed"])
        won = rng.random() < (0.8 if occupation == "working" else 0.1)
        body = {
            "source": "web",
            "channel": rng.choice(["web", "referral"]),
            "attributes": {"occupation": occupation, "pages": rng.randrange(10)},
            "status": "converted" if won else "lost",
        }
        put(runtime, "lead", f"H-{number:03d}", body)
    put(runtime, "lead", "NEW-1", {"source": "web", "attributes": {"occupation": "working"}})
    put(runtime, "lead", "NEW-2", {"source": "web", "attributes": {"occupation": "student"}})
    drain(runtime)
    settings = runtime.host.context("lead_scoring").settings
    assert isinstance(settings, LeadScoringSettings)
    assert train(runtime.engine, settings, now=NOW).model is not None
    good, poor = get_score(runtime.engine, "NEW-1"), get_score(runtime.engine, "NEW-2")
    assert good is not None and good.prediction is not None
    assert poor is not None and poor.prediction is not None
    assert good.prediction.probability > 0.5 > poor.prediction.probability
    assert good.prediction.factors[0]["feature"] == "attributes.occupation"
    assert good.prediction.factors[0]["condition"] == "attributes.occupation = working"


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            {k: v for k, v in DECLARED["lead"].items() if k != "time_on_site"},
            "fit rule #2 'Long visit', field attributes.time_on_site: not a declared lead "
            "attribute (declared: newsletter, occupation)",
        ),
        (
            {**DECLARED["lead"], "time_on_site": {"type": "text"}},
            "fit rule #2 'Long visit', field attributes.time_on_site: attributes of type text "
            "take in, not_in or contains",
        ),
        (
            {**DECLARED["lead"], "occupation": {"type": "choice", "choices": ["student"]}},
            "fit rule #1 'Working professional', field attributes.occupation: working not "
            "among the choices (student)",
        ),
        (
            {**DECLARED["lead"], "newsletter": {"type": "number"}},
            "fit rule #5 'Wants the newsletter', field attributes.newsletter: attributes of "
            "type number take at_least/below",
        ),
    ],
)
def test_rules_on_undeclared_or_mistyped_attributes_stop_start_up(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    tmp_path: Path,
    declared: dict[str, Any],
    message: str,
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    settings = make_settings(
        plugins={"lead_scoring": {"rules_file": str(rules)}}, attributes={"lead": declared}
    )
    with pytest.raises(ConfigurationError) as raised:
        make_runtime(settings, {"lead_scoring": lead_scoring_plugin})
    text = str(raised.value)
    assert "\n" not in text
    assert text == f"plugin 'lead_scoring': scoring rules in {rules}: {message}"

"""The scoring job in the running system: rescoring on change, write-back, events, start-up."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigurationError, PermanentError
from core.kinds import kind_by_type
from core.plugin_types import SyncRecord
from core.store import get_record, timeline
from core.sync.runtime import SyncRuntime
from lead_scoring.service import LeadScorer
from lead_scoring.store import get_score, publish_qualification
from tests.lead_scoring.integration.conftest import (
    GOOD_LEAD,
    Steps,
    drain,
    interaction,
    lead_data,
    put,
    sync_row,
)


def test_a_new_lead_is_scored_and_its_scores_written_back(
    runtime: SyncRuntime, steps: Steps
) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    data = lead_data(runtime, "L-1")
    stored = get_score(runtime.engine, "L-1")
    assert stored is not None
    # fit: manufacturing 15 + 200+ people 15 + large manufacturer 5 + Tehran 8 + manager 12
    # + budget 15 + referral 10 = 80, capped at 50; engagement: silent for 0 days = 0.
    assert stored.fit == Decimal("50.00")
    assert (data["fit_score"], data["engagement_score"], data["score"]) == (50, 0, 50)
    assert data["grade"] == stored.grade == "A3"
    assert stored.lead_version == 2
    assert [len(call) for call in steps.calls] == [1]


def test_the_write_back_is_not_echoed_to_the_plugin(runtime: SyncRuntime, steps: Steps) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    row = sync_row(runtime, "L-1")
    assert row.state == "synced"
    assert row.synced_version == row.wanted_version == 2
    assert len(steps.calls) == 1
    drain(runtime)
    assert len(steps.calls) == 1


def test_a_change_of_the_lead_rescores_it(runtime: SyncRuntime, steps: Steps) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    changed = {**lead_data(runtime, "L-1"), "job_title": "دانشجو", "source": "website"}
    put(runtime, "lead", "L-1", changed)
    drain(runtime)
    stored = get_score(runtime.engine, "L-1")
    assert stored is not None
    # 15 + 15 + 5 + 8 - 15 (student) + 15 = 43, under the cap of 50.
    assert stored.fit == Decimal("43.00")
    assert lead_data(runtime, "L-1")["fit_score"] == 43
    assert len(steps.calls) == 2


def test_an_interaction_of_the_lead_rescores_it(runtime: SyncRuntime, steps: Steps) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    put(runtime, "interaction", "I-1", interaction("L-1", "whatsapp", "inbound", days_ago=0))
    drain(runtime)
    stored = get_score(runtime.engine, "L-1")
    assert stored is not None
    assert stored.engagement == Decimal("8.00")
    assert lead_data(runtime, "L-1")["engagement_score"] == 8
    rules = [line["rule"] for line in stored.explanation]
    assert "WhatsApp reply" in rules


def test_an_interaction_without_a_known_lead_changes_nothing(
    runtime: SyncRuntime, steps: Steps
) -> None:
    put(runtime, "interaction", "I-1", interaction("L-404", "whatsapp", "inbound", days_ago=0))
    put(
        runtime,
        "interaction",
        "I-2",
        {**interaction("x", "call", "inbound", 0), "lead_id": None, "customer_id": "C-1"},
    )
    drain(runtime)
    assert get_score(runtime.engine, "L-404") is None
    assert steps.calls == [[]]


def test_the_explanation_adds_up_to_the_score(runtime: SyncRuntime) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    for number, days in enumerate((0, 3, 10, 40, 90)):
        put(runtime, "interaction", f"I-{number}", interaction("L-1", "whatsapp", "inbound", days))
    put(runtime, "interaction", "I-9", interaction("L-1", "visit", "outbound", days_ago=2))
    drain(runtime)
    stored = get_score(runtime.engine, "L-1")
    assert stored is not None
    lines = stored.explanation
    assert sum(Decimal(line["points"]) for line in lines) == stored.total
    fit = sum(Decimal(line["points"]) for line in lines if line["group"] == "fit")
    assert fit == stored.fit
    assert any(line["kind"] == "limit" for line in lines)
    assert all(line["at"] for line in lines)


def test_threshold_events_are_published_once_when_crossed(
    runtime: SyncRuntime, steps: Steps
) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    assert [call[0].events for call in steps.calls] == [("lead.mql",)]
    put(runtime, "interaction", "I-1", interaction("L-1", "visit", "inbound", days_ago=0))
    drain(runtime)
    assert list(steps.calls[-1][0].events) == ["lead.sql"]
    put(runtime, "interaction", "I-2", interaction("L-1", "email", "inbound", days_ago=0))
    drain(runtime)
    assert list(steps.calls[-1][0].events) == []
    assert qualification_events(runtime, "L-1") == ["lead.mql", "lead.sql"]
    stored = get_score(runtime.engine, "L-1")
    assert stored is not None and stored.qualification == "sql"


def test_a_fall_publishes_nothing_and_a_new_rise_publishes_again(
    runtime: SyncRuntime, steps: Steps
) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    weak = {**lead_data(runtime, "L-1"), "industry": None, "company_size": 5, "budget": None}
    put(runtime, "lead", "L-1", weak)
    drain(runtime)
    assert list(steps.calls[-1][0].events) == []
    put(runtime, "lead", "L-1", {**lead_data(runtime, "L-1"), **GOOD_LEAD})
    drain(runtime)
    assert list(steps.calls[-1][0].events) == ["lead.mql"]
    assert qualification_events(runtime, "L-1") == ["lead.mql", "lead.mql"]


def test_plugin_signals_are_added_to_the_score(
    make_settings: Callable[..., object], make_runtime: Callable[..., SyncRuntime], steps: Steps
) -> None:
    from datetime import UTC, datetime

    import lead_scoring.plugin as plugin
    from core import hookimpl
    from lead_scoring.facts import EngagementEvent

    class Mailer:
        @hookimpl
        def crm_sync_describe(self, context: object) -> object:
            from core.plugin_types import PluginDescription

            return PluginDescription((), target=None)

        @hookimpl
        def crm_sync_scoring_signals(self, lead_id: str) -> list[EngagementEvent]:
            now = datetime.now(UTC)
            return [EngagementEvent("demo_booked", now)] if lead_id == "L-1" else []

    class Broken:
        @hookimpl
        def crm_sync_describe(self, context: object) -> object:
            from core.plugin_types import PluginDescription

            return PluginDescription((), target=None)

        @hookimpl
        def crm_sync_scoring_signals(self, lead_id: str) -> list[EngagementEvent]:
            raise RuntimeError("mail tool down")

    settings = make_settings()
    runtime = make_runtime(
        settings, {"lead_scoring": plugin, "mailer": Mailer(), "broken": Broken()}
    )
    put(runtime, "lead", "L-1", GOOD_LEAD)
    put(runtime, "lead", "L-2", GOOD_LEAD)
    drain(runtime)
    first, second = get_score(runtime.engine, "L-1"), get_score(runtime.engine, "L-2")
    assert first is not None and second is not None
    assert first.engagement == Decimal("25.00")
    assert second.engagement == Decimal("0.00")
    # Bulk rescoring loads whole leads when a plugin adds signals, and adds them too.
    plugin.scorer(runtime.host.context("lead_scoring")).rescore_all()
    again = get_score(runtime.engine, "L-1")
    assert again is not None and again.engagement == Decimal("25.00")


BAD_RULES = """
version = 1
[fit]
[[fit.rules]]
name = "Big company"
field = "company_size"
at_least = 100
points = 10
[[fit.rules]]
name = "Typo rule"
field = "head_count"
at_least = 100
points = 5
[engagement]
[grades.fit]
A = 30
B = 20
C = 10
[grades.engagement]
1 = 20
2 = 10
[qualification.mql]
min_total = 20
[qualification.sql]
min_total = 40
"""


def test_a_bad_rules_file_stops_start_up_naming_the_rule(
    scoring_runtime: Callable[..., SyncRuntime], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(BAD_RULES, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        scoring_runtime(rules_file=str(rules))
    message = str(caught.value)
    assert "lead_scoring" in message
    assert "Typo rule" in message
    assert "head_count" in message


def test_a_missing_rules_file_stops_start_up(
    scoring_runtime: Callable[..., SyncRuntime], tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="cannot read rules_file"):
        scoring_runtime(rules_file=str(tmp_path / "nowhere.toml"))


def test_an_unknown_setting_stops_start_up(scoring_runtime: Callable[..., SyncRuntime]) -> None:
    with pytest.raises(ConfigurationError, match=r"plugins\.lead_scoring\.rule_file"):
        scoring_runtime(rule_file="rules.toml")


def test_a_custom_rules_file_is_used(
    scoring_runtime: Callable[..., SyncRuntime], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        BAD_RULES.replace('"head_count"', '"industry"\nin = ["x"]').replace(
            "at_least = 100\npoints = 5", "points = 5"
        ),
        encoding="utf-8",
    )
    runtime = scoring_runtime(rules_file=str(rules))
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    stored = get_score(runtime.engine, "L-1")
    assert stored is not None and stored.total == Decimal("10.00")


def qualification_events(runtime: SyncRuntime, lead_id: str) -> list[str]:
    """The lead.mql and lead.sql events on a lead's timeline, oldest first.

    Assignment runs in the same job and adds its own events (no agents exist here, so
    ``lead.assignment_failed``); these tests are about the threshold events.
    """
    events = [event.data["type"] for event in timeline(runtime.engine, "lead", lead_id)]
    return [event for event in events if event in ("lead.mql", "lead.sql")]


def test_a_lead_document_is_json_and_carries_the_lead_the_engine_loaded(
    runtime: SyncRuntime,
) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    stored = get_record(runtime.engine, kind_by_type("lead"), "L-1")
    assert stored is not None
    record = SyncRecord(
        type="lead",
        id="L-1",
        version=stored.version,
        data=stored.model(),
        updated_at=stored.updated_at,
        created_at=stored.created_at,
    )
    payload = json.loads(json.dumps(runtime.host.map_record("lead_scoring", record)))
    assert (payload["lead_id"], payload["version"]) == ("L-1", 1)
    assert payload["lead"]["contact_name"] == GOOD_LEAD["contact_name"]
    assert datetime.fromisoformat(payload["created_at"]) == stored.created_at


def test_a_lead_that_cannot_be_scored_fails_alone(
    runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    compute = LeadScorer.compute

    def refuse_one(self: LeadScorer, inputs: Any, reader: Any, **kwargs: Any) -> Any:
        if any(item.id == "L-bad" for item in inputs):
            raise PermanentError("lead L-bad cannot be scored")
        return compute(self, inputs, reader, **kwargs)

    monkeypatch.setattr(LeadScorer, "compute", refuse_one)
    put(runtime, "lead", "L-good", GOOD_LEAD)
    put(runtime, "lead", "L-bad", GOOD_LEAD)
    outcome = runtime.sync.process("lead_scoring", [("lead", "L-good"), ("lead", "L-bad")])
    assert (outcome.pushed, outcome.dead) == (1, 1)
    assert get_score(runtime.engine, "L-good") is not None
    assert get_score(runtime.engine, "L-bad") is None
    assert sync_row(runtime, "L-bad").last_error == "lead L-bad cannot be scored"


def test_a_threshold_crossing_is_published_by_one_writer_only(runtime: SyncRuntime) -> None:
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    stored = get_score(runtime.engine, "L-1")
    assert stored is not None and stored.published_qualification != "none"
    with runtime.engine.begin() as connection:  # as if the crossing had not been published
        assert publish_qualification(connection, "L-1", stored.published_qualification, "none")
    with runtime.engine.begin() as connection:
        first = publish_qualification(connection, "L-1", "none", "mql")
        second = publish_qualification(connection, "L-1", "none", "mql")
    assert (first, second) == (True, False)

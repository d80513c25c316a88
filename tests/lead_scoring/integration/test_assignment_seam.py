"""The scoring job assigns each new lead once it is scored, fairly, with a timeline entry.

A new lead is scored and assigned in one transaction; when the lead changes or another
worker assigns it between the job's reads and its write, the job falls back to storing
the score and assigning step by step, with the same outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import ConfigurationError
from core.kinds import KINDS_BY_TYPE
from core.store import get_record, timeline
from core.sync.runtime import SyncRuntime
from lead_scoring.assignment.service import RULES_ENV, AssignmentService, Prepared
from lead_scoring.assignment.step import service_for
from lead_scoring.assignment.tables import AssignmentHistory, Timer
from tests.lead_scoring.integration.conftest import (
    GOOD_LEAD,
    drain,
    interaction,
    lead_data,
    put,
    sync_row,
)


def test_scored_leads_are_assigned_in_rotation(runtime: SyncRuntime) -> None:
    agents = [f"A-{n}" for n in range(3)]
    for agent in agents:
        body = {"name": f"کارشناس {agent}", "team": "sales", "provinces": ["تهران"]}
        put(runtime, "agent", agent, {**body, "email": f"{agent.lower()}@example.ir"})
    for number in range(6):
        phone = f"0912000{number:04d}"
        put(runtime, "lead", f"L-{number}", {**GOOD_LEAD, "phones": [phone], "emails": []})
    drain(runtime)
    owners = [lead_data(runtime, f"L-{number}").get("owner_id") for number in range(6)]
    assert set(owners) <= set(agents) and None not in owners
    assert sorted(Counter(owners).values()) == [2, 2, 2]
    types = {event.data["type"] for event in timeline(runtime.engine, "lead", "L-0")}
    assert any("assign" in type_ for type_ in types), types
    drain(runtime)
    assert [lead_data(runtime, f"L-{n}").get("owner_id") for n in range(6)] == owners


def _agents(runtime: SyncRuntime, count: int) -> None:
    for number in range(count):
        body = {"name": f"کارشناس {number}", "team": "sales", "provinces": ["تهران"]}
        put(runtime, "agent", f"A-{number}", body)


def _job_service(runtime: SyncRuntime) -> AssignmentService:
    service = service_for(runtime.host.context("lead_scoring"))
    assert service is not None
    return service


def _history(runtime: SyncRuntime, lead_id: str) -> list[tuple[str, str | None, bool]]:
    statement = (
        select(AssignmentHistory.action, AssignmentHistory.to_agent, AssignmentHistory.applied)
        .where(AssignmentHistory.subject_id == lead_id)
        .order_by(AssignmentHistory.id)
    )
    with runtime.engine.connect() as connection:
        return [(row.action, row.to_agent, row.applied) for row in connection.execute(statement)]


def _pending_timers(runtime: SyncRuntime, lead_id: str) -> list[str]:
    statement = select(Timer.kind).where(Timer.subject_id == lead_id, Timer.state == "pending")
    with runtime.engine.connect() as connection:
        return list(connection.execute(statement).scalars())


def test_a_new_lead_gets_its_scores_and_owner_in_one_write(runtime: SyncRuntime) -> None:
    _agents(runtime, 2)
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    stored = get_record(runtime.engine, KINDS_BY_TYPE["lead"], "L-1")
    assert stored is not None
    assert stored.version == 2
    assert stored.data["owner_id"] in ("A-0", "A-1")
    assert stored.data["score"] is not None and stored.data["grade"] is not None
    assert _history(runtime, "L-1") == [("rotation", stored.data["owner_id"], True)]
    assert _pending_timers(runtime, "L-1") == ["first_response"]
    row = sync_row(runtime, "L-1")
    assert (row.state, row.synced_version, row.wanted_version) == ("synced", 2, 2)
    types = [event.data["type"] for event in timeline(runtime.engine, "lead", "L-1")]
    assert types.count("lead.assigned") == 1


def test_a_lead_changed_while_it_is_scored_is_stored_step_by_step(
    runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _agents(runtime, 2)
    put(runtime, "lead", "L-1", GOOD_LEAD)
    service = _job_service(runtime)
    choose = service.choose
    changed: list[int] = []

    def change_first(prepared: Prepared, now: datetime) -> Any:
        if not changed:  # the CRM edits the lead between the job's read and its write
            changed.append(put(runtime, "lead", "L-1", {**GOOD_LEAD, "contact_name": "نام نو"}))
        return choose(prepared, now)

    monkeypatch.setattr(service, "choose", change_first)
    with caplog.at_level("INFO", logger="lead_scoring.job"):
        drain(runtime)
    assert "step by step" in caplog.text
    stored = get_record(runtime.engine, KINDS_BY_TYPE["lead"], "L-1")
    assert stored is not None and changed == [2]
    assert stored.data["contact_name"] == "نام نو"
    assert stored.data["owner_id"] in ("A-0", "A-1")
    assert stored.data["score"] is not None
    assert [action for action, _, _ in _history(runtime, "L-1")] == ["rotation"]
    assert _pending_timers(runtime, "L-1") == ["first_response"]
    row = sync_row(runtime, "L-1")
    # Nothing is left to push: the job's own writes while it pushed the lead (the last
    # version) queue nothing back to it.
    assert row.state == "synced" and row.wanted_version <= row.synced_version


def test_a_lead_another_worker_assigned_meanwhile_keeps_that_assignment(
    runtime: SyncRuntime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _agents(runtime, 2)
    put(runtime, "lead", "L-1", GOOD_LEAD)
    other = AssignmentService.from_runtime(runtime)
    service = _job_service(runtime)
    choose = service.choose
    taken: list[str | None] = []

    def other_first(prepared: Prepared, now: datetime) -> Any:
        if not taken:  # another worker assigns the lead between the read and the write
            taken.append(other.assign("L-1").owner_id)
        return choose(prepared, now)

    monkeypatch.setattr(service, "choose", other_first)
    with caplog.at_level("INFO", logger="lead_scoring.job"):
        drain(runtime)
    assert "step by step" in caplog.text
    assert taken and taken[0] in ("A-0", "A-1")
    assert _history(runtime, "L-1") == [("rotation", taken[0], True)]
    stored = get_record(runtime.engine, KINDS_BY_TYPE["lead"], "L-1")
    assert stored is not None
    assert stored.data["owner_id"] == taken[0]
    assert stored.data["score"] is not None
    assert _pending_timers(runtime, "L-1") == ["first_response"]


def test_new_leads_pushed_together_each_see_the_decisions_before_them(
    scoring_runtime: Callable[..., SyncRuntime],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = tmp_path / "assignment.toml"
    rules.write_text('[defaults]\nmax_open_leads = 1\n[[rules]]\nname = "all"\n', "utf-8")
    monkeypatch.setenv(RULES_ENV, str(rules))
    runtime = scoring_runtime()
    _agents(runtime, 2)
    for number in range(4):
        phone = f"0912000{number:04d}"
        put(runtime, "lead", f"L-{number}", {**GOOD_LEAD, "phones": [phone], "emails": []})
    put(runtime, "lead", "L-copy", {**GOOD_LEAD, "phones": ["09120000000"], "emails": []})
    drain(runtime)  # one push takes them all (max_batch 50)
    owners = {n: lead_data(runtime, f"L-{n}").get("owner_id") for n in range(4)}
    assert sorted(o for o in owners.values() if o) == ["A-0", "A-1"]
    assert list(owners.values()).count(None) == 2
    actions = [action for action, _, _ in _history(runtime, "L-copy")]
    assert actions == ["linked"]
    assert lead_data(runtime, "L-copy")["owner_id"] == owners[0]


def test_a_bad_assignment_rules_file_stops_start_up(
    scoring_runtime: Callable[..., SyncRuntime],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = tmp_path / "assignment.toml"
    rules.write_text('[[rules]]\nname = "all"\nwhen.colour = ["red"]\n', "utf-8")
    monkeypatch.setenv(RULES_ENV, str(rules))
    with pytest.raises(ConfigurationError, match=r"rule 1 \('all'\): when.colour"):
        scoring_runtime()


def test_an_outbound_interaction_stops_the_clock_in_the_job(runtime: SyncRuntime) -> None:
    _agents(runtime, 1)
    put(runtime, "lead", "L-1", GOOD_LEAD)
    drain(runtime)
    assert _pending_timers(runtime, "L-1") == ["first_response"]
    put(runtime, "interaction", "I-in", interaction("L-1", "whatsapp", "inbound", 0))
    drain(runtime)
    assert _pending_timers(runtime, "L-1") == ["first_response"]  # the lead spoke, not us
    put(runtime, "interaction", "I-out", interaction("L-1", "call", "outbound", 0))
    drain(runtime)
    assert _pending_timers(runtime, "L-1") == []
    measures = _job_service(runtime).measures(["L-1"], refresh=False)["L-1"]
    assert measures.sla == "met" and measures.first_response_at is not None


def test_an_agent_deactivated_between_jobs_gets_no_lead_from_the_kept_agents(
    runtime: SyncRuntime,
) -> None:
    body = {"team": "sales", "provinces": ["تهران"]}
    put(runtime, "agent", "A-1", {**body, "name": "کارشناس یک"})
    put(runtime, "lead", "L-0", {**GOOD_LEAD, "phones": ["09120000001"], "emails": []})
    drain(runtime)
    assert lead_data(runtime, "L-0").get("owner_id") == "A-1"
    put(runtime, "agent", "A-2", {**body, "name": "کارشناس دو"})
    put(runtime, "agent", "A-1", {**body, "name": "کارشناس یک", "active": False})
    for number in range(1, 4):  # within the window the job still keeps A-1 as active
        put(runtime, "lead", f"L-{number}", {**GOOD_LEAD, "phones": [f"0912000000{number + 1}"]})
    drain(runtime)
    assert [lead_data(runtime, f"L-{n}").get("owner_id") for n in range(1, 4)] == ["A-2"] * 3

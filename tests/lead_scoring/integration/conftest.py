"""Fixtures for lead scoring in the running system: an embedded runtime with the plugin."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import lead_scoring.plugin as lead_scoring_plugin
from core.db.sync_tables import SyncState
from core.kinds import kind_by_type
from core.plugin_types import PluginContext
from core.settings import Settings
from core.store import get_record, write_record
from core.sync.runtime import SyncRuntime
from lead_scoring.service import LeadInput, ScoredLead
from tests.core.conftest import make_settings

__all__ = ["make_settings"]

#: A lead that fits well: manufacturing, 250 people, Tehran, a manager, big budget.
GOOD_LEAD: dict[str, Any] = {
    "contact_name": "سارا احمدی",
    "company_name": "صنایع پمپ",
    "industry": "تولیدی",
    "company_size": 250,
    "province": "تهران",
    "job_title": "مدیر خرید",
    "budget": "6000000000",
    "source": "referral",
    "phones": ["09121234567"],
}


class Steps:
    """Records what each run of the plugin's job scored: one entry per push."""

    def __init__(self) -> None:
        self.calls: list[list[ScoredLead]] = []

    def record(self, scored: Sequence[ScoredLead]) -> list[ScoredLead]:
        """Keep a copy of one run's scored leads and hand them on."""
        self.calls.append(list(scored))
        return list(scored)


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Steps:
    """Record each push's scored leads, around the plugin's real job."""
    recorder = Steps()
    job = lead_scoring_plugin.run_job

    def recording(
        context: PluginContext, lead_ids: Sequence[str], loaded: Sequence[LeadInput] = ()
    ) -> list[ScoredLead]:
        return recorder.record(job(context, lead_ids, loaded))

    monkeypatch.setattr(lead_scoring_plugin, "run_job", recording)
    return recorder


@pytest.fixture
def scoring_runtime(
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    tmp_path: Path,
) -> Callable[..., SyncRuntime]:
    """Build an embedded runtime with the lead-scoring plugin and the given settings."""

    def build(**plugin_settings: Any) -> SyncRuntime:
        settings = make_settings(plugins={"lead_scoring": plugin_settings})
        return make_runtime(settings, {"lead_scoring": lead_scoring_plugin})

    return build


@pytest.fixture(params=["sqlite", "postgres"])
def runtime(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
) -> SyncRuntime:
    """A runtime with the lead-scoring plugin on its default rules, on SQLite and PostgreSQL.

    The job reads and writes differently on each (one statement per read where the
    database allows it), so its outcome is checked on both.
    """
    url = {}
    if request.param == "postgres":
        url = {"database_url": request.getfixturevalue("postgres_url")}
    settings = make_settings(plugins={"lead_scoring": {}}, **url)
    return make_runtime(settings, {"lead_scoring": lead_scoring_plugin})


def put(runtime: SyncRuntime, type_: str, record_id: str, body: dict[str, Any]) -> int:
    """Write a record as the API does (outbox rows in the same transaction); its version."""
    kind = kind_by_type(type_)
    model = kind.schema.model_validate(body)
    result = write_record(
        runtime.engine, kind, record_id, model, subscribers=runtime.host.subscribers(type_)
    )
    return result.record.version


def drain(runtime: SyncRuntime, plugin: str = "lead_scoring", rounds: int = 20) -> int:
    """Run the plugin's due deliveries until none is left; return how many rounds ran."""
    for done in range(rounds):
        outcome = runtime.sync.process(plugin, [])
        if outcome.pushed + outcome.dead + outcome.failed == 0:
            return done
    raise AssertionError("deliveries kept coming")


def lead_data(runtime: SyncRuntime, lead_id: str) -> dict[str, Any]:
    """The stored document of a lead."""
    stored = get_record(runtime.engine, kind_by_type("lead"), lead_id)
    assert stored is not None
    return stored.data


def sync_row(runtime: SyncRuntime, lead_id: str, plugin: str = "lead_scoring") -> SyncState:
    """The plugin's delivery row of one lead."""
    with runtime.engine.connect() as connection:
        row = connection.execute(
            select(SyncState.__table__).where(
                SyncState.plugin == plugin,
                SyncState.kind == "lead",
                SyncState.record_id == lead_id,
            )
        ).one()
    return SyncState(**row._mapping)


def interaction(lead_id: str, channel: str, direction: str, days_ago: float) -> dict[str, Any]:
    """An interaction body on a lead's timeline."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return {
        "lead_id": lead_id,
        "channel": channel,
        "direction": direction,
        "occurred_at": at.isoformat(),
    }

"""Assigning step by step after scoring: assigns scored leads, stops answered leads' clocks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from core.plugin_types import PluginContext, PluginSettings
from core.records import RecordAccess
from core.schemas.leads import Lead
from lead_scoring.assignment.step import assign_scored, service_for
from tests.lead_scoring.assignment.conftest import World


def scored(lead_id: str, **fields: Any) -> Any:
    fields.setdefault("contact_name", lead_id)
    return SimpleNamespace(lead_id=lead_id, lead=Lead(**fields))


@pytest.fixture
def context(world: World) -> PluginContext:
    context = PluginContext(name="lead_scoring", settings=PluginSettings(), http=httpx.Client())
    context.records = RecordAccess(world.engine, "lead_scoring", lambda _: [], lambda *_: None)
    return context


def test_the_step_assigns_open_leads_once(world: World, context: PluginContext) -> None:
    world.agent("a1")
    world.lead("L")
    world.lead("lost", status="lost")
    assign_scored(service_for(context), [scored("L"), scored("lost", status="lost")])
    assign_scored(service_for(context), [scored("L")])
    assert world.owner("lead", "L") == "a1"
    assert world.owner("lead", "lost") is None
    assert len(world.history("L")) == 1
    assert service_for(context) is service_for(context)


def test_the_step_records_the_first_response(world: World, context: PluginContext) -> None:
    world.agent("a1")
    world.lead("L")
    assign_scored(service_for(context), [scored("L")])
    service = service_for(context)
    occurred = service.measures(["L"])["L"].assigned_at
    assert occurred is not None
    world.put(
        "interaction",
        "out",
        lead_id="L",
        channel="sms",
        direction="outbound",
        occurred_at=occurred.isoformat(),
    )
    assign_scored(service_for(context), [scored("L")])
    assert service.measures(["L"], refresh=False)["L"].sla == "met"


def test_without_a_database_there_is_no_assignment_service() -> None:
    bare = PluginContext(name="lead_scoring", settings=PluginSettings(), http=httpx.Client())
    with pytest.raises(RuntimeError, match="records facade"):
        service_for(bare)

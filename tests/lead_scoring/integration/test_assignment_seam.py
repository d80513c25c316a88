"""The scoring job assigns each new lead once it is scored, fairly, with a timeline entry."""

from __future__ import annotations

from collections import Counter

from core.store import timeline
from core.sync.runtime import SyncRuntime
from tests.lead_scoring.integration.conftest import GOOD_LEAD, drain, lead_data, put


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

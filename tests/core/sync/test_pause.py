"""Pausing a plugin's sending: no claims while paused, nothing lost, resumed by the sweeper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from core import HoldSending, PushResult, TransientError
from core.db.sync_tables import PENDING, SYNCED, SyncState
from core.kinds import KINDS
from core.settings import Settings
from core.store import write_record
from core.sync.pause import health_of, pause_of, pause_plugin, pauses, resume_plugin
from core.sync.runtime import SyncRuntime
from core.sync.sweeper import sweep_once
from tests.core.scripted_plugin import ScriptedPlugin

CUSTOMERS = KINDS["customers"]


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_runtime: Callable[..., SyncRuntime],
    scripted: ScriptedPlugin,
) -> SyncRuntime:
    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    return make_runtime(make_settings(**overrides), {"scripted": scripted})


def put(runtime: SyncRuntime, record_id: str) -> None:
    record = CUSTOMERS.schema.model_validate({"type": "organization", "name": record_id})
    write_record(
        runtime.engine,
        CUSTOMERS,
        record_id,
        record,
        subscribers=runtime.host.subscribers("customer"),
    )


def row(runtime: SyncRuntime, record_id: str) -> SyncState:
    with runtime.engine.connect() as connection:
        found = connection.execute(
            select(SyncState.__table__).where(
                SyncState.plugin == "scripted", SyncState.record_id == record_id
            )
        ).one()
    return SyncState(**found._mapping)


def sent_ids(scripted: ScriptedPlugin) -> list[str]:
    return [document.id for document in scripted.documents]


def test_a_paused_plugin_claims_nothing_and_resuming_sends_everything_once(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    assert pause_plugin(runtime.engine, "scripted", by="ops", reason="ERP upgrade tonight")
    put(runtime, "C-1")
    put(runtime, "C-2")
    outcome = runtime.sync.process("scripted", [("customer", "C-1"), ("customer", "C-2")])
    assert (outcome.pushed, outcome.failed, outcome.dead) == (0, 0, 0)
    assert scripted.pushes == []
    assert sweep_once(runtime) == 0, "the sweeper leaves a paused plugin's deliveries alone"
    assert (row(runtime, "C-1").state, row(runtime, "C-1").attempts) == (PENDING, 0)
    pause = pause_of(runtime.engine, "scripted")
    assert pause is not None and (pause.paused_by, pause.reason) == ("ops", "ERP upgrade tonight")
    health = health_of(runtime.engine, runtime.host, "scripted")
    assert not health.ok and health.detail == "sending paused by ops: ERP upgrade tonight"

    assert resume_plugin(runtime.engine, "scripted")
    assert pause_of(runtime.engine, "scripted") is None
    assert health_of(runtime.engine, runtime.host, "scripted").ok
    assert sweep_once(runtime) == 2, "resuming makes the due deliveries sweepable at once"
    runtime.sync.process("scripted", [("customer", "C-1"), ("customer", "C-2")])
    assert sorted(sent_ids(scripted)) == ["C-1", "C-2"]
    assert row(runtime, "C-2").state == SYNCED
    assert not resume_plugin(runtime.engine, "scripted"), "resuming twice is a no-op"


def test_pausing_twice_keeps_the_first_reason(runtime: SyncRuntime) -> None:
    assert pause_plugin(runtime.engine, "scripted", by="ops", reason="first")
    assert not pause_plugin(runtime.engine, "scripted", by="someone", reason="second")
    assert {name: pause.reason for name, pause in pauses(runtime.engine).items()} == {
        "scripted": "first"
    }


def test_hold_sending_pauses_the_plugin_and_spends_no_attempt(
    runtime: SyncRuntime, scripted: ScriptedPlugin
) -> None:
    put(runtime, "C-1")
    scripted.script.append(HoldSending("access token expired (190)"))
    outcome = runtime.sync.process("scripted", [("customer", "C-1")])
    assert (outcome.pushed, outcome.failed, outcome.dead, outcome.retry) == (0, 0, 0, [])
    held = row(runtime, "C-1")
    assert (held.state, held.attempts, held.lease_owner) == (PENDING, 0, None)
    assert held.last_error == "held: access token expired (190)"
    pause = pause_of(runtime.engine, "scripted")
    assert pause is not None
    assert (pause.paused_by, pause.reason) == ("plugin", "access token expired (190)")
    health = health_of(runtime.engine, runtime.host, "scripted")
    assert (health.ok, health.detail) == (
        False,
        "sending paused by plugin: access token expired (190)",
    )
    put(runtime, "C-2")
    runtime.sync.process("scripted", [("customer", "C-2")])
    assert scripted.pushes == [], "nothing is sent while the target refuses everything"

    resume_plugin(runtime.engine, "scripted")
    assert sweep_once(runtime) == 2
    runtime.sync.process("scripted", [("customer", "C-1"), ("customer", "C-2")])
    assert sorted(sent_ids(scripted)) == ["C-1", "C-2"]
    assert row(runtime, "C-1").attempts == 0


def test_a_hold_in_a_batch_stops_the_rest_of_the_batch(
    make_settings: Callable[..., Settings], make_runtime: Callable[..., SyncRuntime]
) -> None:
    batching = ScriptedPlugin(max_batch=2)
    runtime = make_runtime(make_settings(sync={"batch_size": 2}), {"scripted": batching})
    for number in range(1, 5):
        put(runtime, f"C-{number}")

    def first_chunk_holds(documents: list[Any]) -> list[PushResult]:
        return [PushResult(error=HoldSending("token revoked"))] * len(documents)

    batching.script.append(first_chunk_holds)
    batching.script.append(TransientError("must not be reached"))
    refs = [("customer", f"C-{number}") for number in range(1, 5)]
    outcome = runtime.sync.process("scripted", refs)
    assert outcome.pushed == 0
    assert len(batching.script) == 1, "no chunk is pushed after the target held sending"
    assert {row(runtime, f"C-{n}").attempts for n in range(1, 5)} == {0}
    assert {row(runtime, f"C-{n}").last_error for n in range(1, 5)} == {"held: token revoked"}
    assert pause_of(runtime.engine, "scripted") is not None

"""A timer survives the process firing it being SIGKILLed, and still fires exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from lead_scoring.assignment.tables import Timer
from lead_scoring.sla import fire_due
from lead_scoring.sla.timers import LEASE_SECONDS
from tests.lead_scoring.assignment.conftest import World

ROOT = Path(__file__).parents[3]
WORKER = Path(__file__).with_name("timer_worker.py")


def run_victim(world: World, tmp_path: Path, mode: str) -> None:
    marker = tmp_path / f"marker-{mode}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            str(world.engine.url),
            world.clock.now.isoformat(),
            str(marker),
            mode,
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert marker.exists(), "the worker never reached the point where it dies"
    assert returncode == -9


def lead_events(world: World) -> list[str]:
    return [event["type"] for event in world.events("lead", "L")]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["after-claim", "after-decision"])
def test_a_timer_survives_a_sigkill_of_the_worker_firing_it(
    world: World, tmp_path: Path, mode: str
) -> None:
    world.agent("a1")
    world.agent("a2")
    service = world.service()
    world.lead("L")
    owner = service.assign("L").owner_id
    world.clock.advance(minutes=16)

    run_victim(world, tmp_path, mode)
    with world.engine.connect() as connection:
        (timer,) = connection.execute(select(Timer.__table__).where(Timer.kind == "first_response"))
    assert (timer.state, timer.lease_owner, timer.attempts) == ("pending", "victim", 1)
    assert (timer.decision is not None) == (mode == "after-decision")
    assert "lead.first_response_overdue" not in lead_events(world)

    # While the dead worker's lease runs, nobody else fires the timer...
    assert fire_due(service, now=world.clock.now + timedelta(seconds=LEASE_SECONDS / 2)) == 0
    # ...after it expires, the next worker does, once.
    later = world.clock.advance(seconds=LEASE_SECONDS + 1)
    assert fire_due(service, now=later) == 1
    assert fire_due(service, now=later + timedelta(minutes=1)) == 0
    with world.engine.connect() as connection:
        rows = connection.execute(select(Timer.__table__).order_by(Timer.id)).all()
    assert [(row.kind, row.state) for row in rows] == [
        ("first_response", "fired"),
        ("escalation", "pending"),
    ]
    assert rows[0].attempts == 2
    assert lead_events(world).count("lead.first_response_overdue") == 1
    assert world.owner("task", f"sla-reminder-{rows[0].id}") == owner

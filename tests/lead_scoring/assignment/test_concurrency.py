"""Two processes assigning at once against PostgreSQL never give the same turn twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from lead_scoring.assignment.tables import AssignmentHistory, LeadAssignment
from tests.lead_scoring.assignment.conftest import Clock, World, migrated_engine

ROOT = Path(__file__).parents[3]
WORKER = Path(__file__).with_name("assign_worker.py")
LEADS = 300
AGENTS = 7


@pytest.mark.slow
def test_two_processes_share_the_rotation_fairly_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    engine = migrated_engine(postgres_url)
    world = World(engine, Clock())
    try:
        for i in range(AGENTS):
            world.agent(f"a{i}")
        for i in range(LEADS):
            world.lead(f"L{i}")
        start = tmp_path / "start"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        url = engine.url.render_as_string(hide_password=False)
        ranges = [("0", str(LEADS), "1"), (str(LEADS - 1), "-1", "-1")]
        workers = [
            subprocess.Popen(
                [sys.executable, str(WORKER), url, str(start), *r],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for r in ranges
        ]
        start.write_text("go")
        assigned = []
        for worker in workers:
            out, _ = worker.communicate(timeout=300)
            assert worker.returncode == 0
            assigned.append(int(out.strip()))
        # Both processes took part: each assigned some of the leads, together all of them.
        assert min(assigned) > 0
        assert sum(assigned) == LEADS

        with engine.connect() as connection:
            steps = connection.execute(
                select(
                    AssignmentHistory.subject_id, AssignmentHistory.turn, AssignmentHistory.to_agent
                )
            ).all()
            owners = dict(
                connection.execute(select(LeadAssignment.lead_id, LeadAssignment.owner_id)).all()
            )
        # Every lead was assigned exactly once, though both processes tried each one.
        assert sorted(lead for lead, _, _ in steps) == sorted(f"L{i}" for i in range(LEADS))
        # No turn was given twice, and none was skipped.
        assert sorted(turn for _, turn, _ in steps) == list(range(1, LEADS + 1))
        # The agents end within one lead of each other.
        counts = Counter(owners.values())
        assert len(counts) == AGENTS
        assert max(counts.values()) - min(counts.values()) <= 1
        assert all(world.owner("lead", lead) == owner for lead, owner in owners.items())
    finally:
        engine.dispose()

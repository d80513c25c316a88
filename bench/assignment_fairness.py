"""Fairness and speed of lead assignment: N leads over equal agents.

Prints how many leads each agent got (they must end within one lead of each other)
and the time to assign one lead (mean, median, 99th percentile), on a fresh SQLite
file by default or on the PostgreSQL database given with ``--database-url`` (its
assignment tables should be empty). A benchmark, not a test: nothing is asserted.

    .venv/bin/python bench/assignment_fairness.py [--leads 10000] [--agents 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from core.db.engine import create_db_engine
from core.db.migrate import upgrade
from core.kinds import KINDS_BY_TYPE
from core.schemas.leads import Lead
from core.schemas.parties import Agent
from core.store import write_record
from lead_scoring.assignment import AssignmentService, parse_assignment_rules

RULES = '[[rules]]\nname = "bench"\nteam = "sales"\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="crm-sync-bench-")
    url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    prefix = f"bench-{int(time.time())}-"
    for i in range(args.agents):
        agent = Agent(name=f"Agent {i}", team="sales")
        write_record(engine, KINDS_BY_TYPE["agent"], f"{prefix}a{i}", agent, subscribers=[])
    for i in range(args.leads):
        lead = Lead(contact_name=f"Lead {i}", phones=[f"0912{i:07d}"])
        write_record(engine, KINDS_BY_TYPE["lead"], f"{prefix}L{i}", lead, subscribers=[])

    service = AssignmentService(engine, parse_assignment_rules(RULES))
    timings = []
    owners: Counter[str] = Counter()
    started = time.perf_counter()
    for i in range(args.leads):
        before = time.perf_counter()
        outcome = service.assign(f"{prefix}L{i}")
        timings.append(time.perf_counter() - before)
        owners[outcome.owner_id or "(none)"] += 1
    total = time.perf_counter() - started

    print(f"database: {engine.dialect.name}; {args.leads} leads over {args.agents} agents")
    for agent_id, count in sorted(owners.items()):
        print(f"  {agent_id}: {count}")
    spread = max(owners.values()) - min(owners.values())
    print(f"spread (most - fewest): {spread} lead(s)")
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"assign one lead: mean {statistics.mean(timings) * 1000:.2f} ms, "
        f"median {statistics.median(timings) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms; "
        f"{args.leads / total:.0f} leads/s"
    )
    engine.dispose()


if __name__ == "__main__":
    main()

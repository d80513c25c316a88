"""A process that assigns leads as soon as a start file appears (concurrency tests).

Run as ``python assign_worker.py DB_URL START_FILE FIRST LAST STEP``: it assigns leads
``L<i>`` for i in range(FIRST, LAST, STEP) (a negative step walks backwards), so two
workers can race over the same leads from opposite ends.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from core.db.engine import create_db_engine
from lead_scoring.assignment import AssignmentService, parse_assignment_rules

RULES = '[[rules]]\nname = "all"\n'


def main() -> None:
    url, start_file, first, last, step = sys.argv[1:6]
    engine = create_db_engine(url)
    service = AssignmentService(engine, parse_assignment_rules(RULES))
    service.agents()  # connect before the start, so both begin together
    while not Path(start_file).exists():
        time.sleep(0.01)
    assigned = 0
    for i in range(int(first), int(last), int(step)):
        assigned += service.assign(f"L{i}").action == "rotation"
    print(assigned)
    engine.dispose()


if __name__ == "__main__":
    main()

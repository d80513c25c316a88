"""A process that fires SLA timers and dies with SIGKILL at a chosen moment.

Run as ``python timer_worker.py DB_URL NOW_ISO MARKER MODE``. MODE ``after-claim``
dies once it holds the lease on the due timers; ``after-decision`` dies after the
decision is committed but before its effects are written. MARKER is created just
before dying so the test knows the moment has come.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime
from pathlib import Path

from core.db.engine import create_db_engine
from lead_scoring.assignment import AssignmentService, parse_assignment_rules
from lead_scoring.sla import timers
from tests.lead_scoring.assignment.conftest import RULES


def die(marker: Path) -> None:
    marker.write_text("dying")
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    url, now_text, marker_text, mode = sys.argv[1:5]
    now = datetime.fromisoformat(now_text)
    marker = Path(marker_text)
    engine = create_db_engine(url)
    service = AssignmentService(engine, parse_assignment_rules(RULES), clock=lambda: now)
    if mode == "after-decision":
        timers._apply = lambda *_: die(marker)  # type: ignore[assignment]
        timers.fire_due(service, now=now, holder="victim")
    else:
        timers.fire_due(service, now=now, holder="victim", on_claimed=lambda _ids: die(marker))


if __name__ == "__main__":
    main()

"""Rate limits shared by every worker process and machine, kept in the database.

A limit is a key and an interval: at most one send per ``interval`` seconds under that
key (``1/80`` s for a phone number sending 80 messages a second, 6 s for one recipient).
Each key's row holds the next free moment; :func:`reserve` takes one moment of every
limit a send is under in one transaction, all or none, so two workers can never take
the same moment: PostgreSQL locks each row for the transaction (taken in one order, so
two reservations never deadlock) and SQLite has one writer at a time.

The database rather than Redis: every deployment has it (Redis is optional), and the
reservation of several limits is one transaction there. A moment may lie up to
``max_wait`` seconds ahead (the caller sleeps until it); a limit whose next moment is
further away grants nothing and says how long to wait. Moments are the workers' own
clocks (seconds since the epoch), so machines must keep their clocks in sync (NTP).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.db.sync_tables import RateSlot
from core.plugin_types import Reservation

#: The longest key a limit may have (the column's length).
MAX_KEY = 255


class _Refused(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait


def reserve(
    engine: Engine,
    limits: Sequence[tuple[str, float]],
    *,
    max_wait: float = 0.0,
    now: float | None = None,
) -> Reservation:
    """Reserve one moment of each ``(key, interval)`` limit, all or none (see the module)."""
    for key, interval in limits:
        if not key or len(key) > MAX_KEY:
            raise ValueError(f"a rate limit key has 1 to {MAX_KEY} characters: {key!r}")
        if interval < 0:
            raise ValueError(f"a rate limit interval is not negative: {interval}")
    base = time.time() if now is None else now
    # The longest interval first: the send's moment only moves later along the way.
    ordered = sorted(limits, key=lambda limit: (-limit[1], limit[0]))
    taken: list[tuple[str, float, float]] = []
    try:
        with engine.begin() as connection:
            start = base
            dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
            for key, interval in ordered:
                # One statement takes the moment: a new key's first moment is ``start``;
                # a known key's is its next free one, if that is close enough.
                insert = dialect.insert(RateSlot).values(key=key, next_at=start + interval)
                row = connection.execute(
                    insert.on_conflict_do_update(
                        index_elements=["key"],
                        set_={
                            "next_at": case(
                                (RateSlot.next_at > start, RateSlot.next_at), else_=start
                            )
                            + interval
                        },
                        where=RateSlot.next_at <= base + max_wait,
                    ).returning(RateSlot.next_at)
                ).first()
                if row is None:
                    next_at = connection.execute(
                        select(RateSlot.next_at).where(RateSlot.key == key)
                    ).scalar_one()
                    raise _Refused(next_at - base)
                start = max(start, row.next_at - interval)
                taken.append((key, interval, row.next_at - interval))
            for key, interval, own in taken:
                if own < start:
                    connection.execute(
                        update(RateSlot).where(RateSlot.key == key).values(next_at=start + interval)
                    )
    except _Refused as refused:
        return Reservation(granted=False, wait=max(0.0, refused.wait))
    return Reservation(granted=True, wait=max(0.0, start - base))


__all__ = ["MAX_KEY", "reserve"]

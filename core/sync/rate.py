"""Rate limits shared by every worker process and machine, kept in the database.

A limit is a key and an interval: at most one send per ``interval`` seconds under that
key (``1/80`` s for a phone number sending 80 messages a second, 6 s for one recipient).
Each key's row holds the next free moment. :func:`reserve_many` takes the moments of a
whole batch of sends in one transaction of two statements: an upsert that locks every
key the batch is under and reads its next moment, then one that writes the moments
taken. Each send is all or none: it gets one moment of every limit it is under, or
nothing. Two workers can never take the same moment: PostgreSQL locks the rows for the
transaction (in the order of their keys, so two reservations never deadlock) and
SQLite has one writer at a time.

The database rather than Redis: every deployment has it (Redis is optional), and the
reservation of several limits is one transaction there. A moment may lie up to
``max_wait`` seconds ahead (the caller sleeps until it); a send under a limit whose next
moment is further away is granted nothing and told how long to wait. Moments are the
workers' own clocks (seconds since the epoch), so machines must keep their clocks in
sync (NTP).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from core.db.sync_tables import RateSlot
from core.plugin_types import Reservation

#: The longest key a limit may have (the column's length).
MAX_KEY = 255
#: The moment a key that was never used is free from.
NEVER = 0.0


def _check(limits: Sequence[tuple[str, float]]) -> None:
    for key, interval in limits:
        if not key or len(key) > MAX_KEY:
            raise ValueError(f"a rate limit key has 1 to {MAX_KEY} characters: {key!r}")
        if interval < 0:
            raise ValueError(f"a rate limit interval is not negative: {interval}")


def reserve(
    engine: Engine,
    limits: Sequence[tuple[str, float]],
    *,
    max_wait: float = 0.0,
    now: float | None = None,
) -> Reservation:
    """Reserve one moment of each ``(key, interval)`` limit, all or none (see the module)."""
    return reserve_many(engine, [limits], max_wait=max_wait, now=now)[0]


def reserve_many(
    engine: Engine,
    sends: Sequence[Sequence[tuple[str, float]]],
    *,
    max_wait: float = 0.0,
    now: float | None = None,
) -> list[Reservation]:
    """Reserve the moments of several sends, in their order, each all or none.

    ``sends`` holds the ``(key, interval)`` limits of each send; the answer holds one
    Reservation per send. A send's moment is the latest next moment of its limits (or
    now); each of its limits is then taken up to that moment plus its interval, so a
    later send of the batch under the same key comes after it. A send under a limit
    more than ``max_wait`` seconds away takes nothing and waits for the furthest one.
    """
    for limits in sends:
        _check(limits)
    base = time.time() if now is None else now
    keys = sorted({key for limits in sends for key, _ in limits})
    if not keys:
        return [Reservation(granted=True, wait=0.0) for _ in sends]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    answers: list[Reservation] = []
    with engine.begin() as connection:
        # Locks each key's row (a new key's row is made free) and reads its next moment.
        locking = dialect.insert(RateSlot).values([{"key": key, "next_at": NEVER} for key in keys])
        locked = locking.on_conflict_do_update(
            index_elements=["key"], set_={"next_at": RateSlot.next_at}
        ).returning(RateSlot.key, RateSlot.next_at)
        slots = {row.key: row.next_at for row in connection.execute(locked)}
        taken: set[str] = set()
        for limits in sends:
            ahead = [slots[key] for key, _ in limits]
            late = [moment for moment in ahead if moment > base + max_wait]
            if late:
                answers.append(Reservation(granted=False, wait=max(late) - base))
                continue
            moment = max([base, *ahead])
            for key, interval in limits:
                slots[key] = max(slots[key], moment + interval)
                taken.add(key)
            answers.append(Reservation(granted=True, wait=moment - base))
        if taken:
            writing = dialect.insert(RateSlot).values(
                [{"key": key, "next_at": slots[key]} for key in sorted(taken)]
            )
            connection.execute(
                writing.on_conflict_do_update(
                    index_elements=["key"], set_={"next_at": writing.excluded.next_at}
                )
            )
    return answers


__all__ = ["MAX_KEY", "reserve", "reserve_many"]

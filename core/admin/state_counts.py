"""The exact number of deliveries and inbound events per plugin and state, read cheaply.

Triggers keep ``state_counts`` (see :class:`core.db.admin_tables.StateCount`): each
change appends rows whose ``n`` sum to the change per state, so reading the counts sums
a small table instead of scanning a million queue rows. :func:`fold_state_counts`
replaces the appended rows by one per state, in one transaction, so the table stays small.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, Engine, delete, func, insert, select

from core.db.admin_tables import StateCount

#: PostgreSQL folds in one statement: the rows it deletes are exactly the rows it sums,
#: whatever other transactions append meanwhile.
POSTGRES_FOLD = (
    "WITH gone AS (DELETE FROM state_counts RETURNING direction, plugin, state, n)"
    " INSERT INTO state_counts (direction, plugin, state, n)"
    " SELECT direction, plugin, state, sum(n) FROM gone"
    " GROUP BY direction, plugin, state HAVING sum(n) <> 0"
)


def state_counts(connection: Connection, direction: str) -> dict[str, dict[str, int]]:
    """Per plugin, the number of rows in each state of one direction (states with none left out)."""
    total = func.sum(StateCount.n)
    statement = (
        select(StateCount.plugin, StateCount.state, total)
        .where(StateCount.direction == direction)
        .group_by(StateCount.plugin, StateCount.state)
        .having(total != 0)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for plugin, state, count in connection.execute(statement):
        counts[plugin][state] = int(count)
    return dict(counts)


def fold_state_counts(engine: Engine) -> int:
    """Replace the appended rows by one row per (direction, plugin, state); rows left."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(POSTGRES_FOLD)
        else:
            # A SQLite writing transaction begins IMMEDIATE: nobody appends meanwhile.
            keys = (StateCount.direction, StateCount.plugin, StateCount.state)
            total = func.sum(StateCount.n)
            sums = connection.execute(select(*keys, total).group_by(*keys).having(total != 0)).all()
            connection.execute(delete(StateCount))
            if sums:
                connection.execute(
                    insert(StateCount),
                    [{"direction": d, "plugin": p, "state": s, "n": int(n)} for d, p, s, n in sums],
                )
        return int(connection.execute(select(func.count()).select_from(StateCount)).scalar_one())

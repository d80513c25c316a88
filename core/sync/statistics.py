"""Fresh planner statistics for the queue tables on PostgreSQL, whether or not autovacuum runs.

A claim and an outcome find their rows by key only while PostgreSQL knows how the rows
spread over the plugins. Without statistics (a new table that a burst of changes filled
before autovacuum's first pass, or a server with autovacuum off) it expects one row per
plugin and reads every queued row of the plugin for each claim instead: a backlog then
costs the square of its size. The sweeper refreshes the statistics of a queue table once
as many rows changed as autovacuum's defaults ask for (50 and a tenth of the table, at
most once a minute); a bulk resync refreshes the records' statistics by the same rule
before it reads them by key range, and the queue's as its rows grow
(:func:`grew_fourfold`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

#: The tables whose rows the engines claim by key.
QUEUE_TABLES = ("sync_state", "inbox")
#: Rows changed since the last ANALYZE that make a table's statistics stale, plus
#: ``STALE_SHARE`` of its rows: autovacuum's own defaults.
STALE_ROWS = 50
STALE_SHARE = 0.1
#: At most one ANALYZE of a table per this many seconds (autovacuum's nap): a queue being
#: drained changes a tenth of its rows every second or two, and a resync refreshes the
#: statistics of the rows it adds itself.
EVERY_SECONDS = 60.0

STALE = text(
    "SELECT s.relname FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid"
    " WHERE s.schemaname = current_schema() AND s.relname = ANY(CAST(:tables AS text[]))"
    " AND (c.reltuples < 0 OR s.n_mod_since_analyze > :rows + :share * c.reltuples)"
    " AND (greatest(s.last_analyze, s.last_autoanalyze) IS NULL"
    " OR greatest(s.last_analyze, s.last_autoanalyze) < now() - make_interval(secs => :every))"
    " ORDER BY s.relname"
).bindparams(rows=STALE_ROWS, share=STALE_SHARE, every=EVERY_SECONDS)


def analyze(engine: Engine, *tables: str) -> None:
    """Refresh PostgreSQL's statistics of ``tables`` (``sync_state`` if none); no-op elsewhere."""
    if engine.dialect.name == "postgresql":
        quote = engine.dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in tables or ("sync_state",))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"ANALYZE {names}"))


def refresh_stale_statistics(engine: Engine, tables: Sequence[str] = QUEUE_TABLES) -> list[str]:
    """ANALYZE those of ``tables`` whose statistics are stale or missing; return their names.

    One read of PostgreSQL's table statistics when nothing is stale; SQLite, whose
    planner needs no statistics to look rows up by key, is left alone.
    """
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        found = connection.execute(STALE, {"tables": list(tables)}).scalars()
        stale = [str(name) for name in found]
    if stale:
        analyze(engine, *stale)
        log.info("refreshed the planner statistics of %s", ", ".join(stale))
    return stale


def grew_fourfold(before: int, after: int) -> bool:
    """Whether a count going from ``before`` to ``after`` passed a power of four (1, 4, 16...).

    A bulk queueing refreshes the statistics when this says so: after its first rows and
    then each time they have about quadrupled, a handful of times even for millions.
    """
    return (after.bit_length() - 1) // 2 > (before.bit_length() - 1) // 2

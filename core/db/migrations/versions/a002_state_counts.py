"""admin console: state counts kept by triggers, partial indexes on the due and waiting states

Revision ID: a002_state_counts
Revises: a001_admin_console
Create Date: 2026-12-04 18:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a002_state_counts"
down_revision = "a001_admin_console"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: The queue tables whose states are counted, with the direction their counts carry.
QUEUES = {"sync_state": "out", "inbox": "in"}
#: The states a worker still has to act on, which the partial indexes hold.
DUE = "state IN ('pending', 'failed')"
#: Failed deliveries waiting on another plugin's document, which the overview counts apart.
WAITING = "state = 'failed' AND error_class LIKE 'waiting-%'"
COUNTS = sa.table(
    "state_counts", sa.column("direction"), sa.column("plugin"), sa.column("state"), sa.column("n")
)

POSTGRES_FUNCTION = """
CREATE FUNCTION state_counts_changed() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO state_counts (direction, plugin, state, n)
    SELECT TG_ARGV[0], plugin, state, count(*) FROM new_rows GROUP BY plugin, state;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO state_counts (direction, plugin, state, n)
    SELECT TG_ARGV[0], plugin, state, -count(*) FROM old_rows GROUP BY plugin, state;
  ELSE
    INSERT INTO state_counts (direction, plugin, state, n)
    SELECT TG_ARGV[0], plugin, state, sum(n) FROM (
      SELECT plugin, state, 1 AS n FROM new_rows
      UNION ALL SELECT plugin, state, -1 AS n FROM old_rows
    ) AS changes GROUP BY plugin, state HAVING sum(n) <> 0;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql
"""
POSTGRES_TRUNCATED = """
CREATE FUNCTION state_counts_truncated() RETURNS trigger AS $$
BEGIN
  DELETE FROM state_counts WHERE direction = TG_ARGV[0];
  RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def postgres_triggers(table: str, direction: str) -> list[str]:
    """One statement-level trigger per event (transition tables allow one event each)."""
    run = f"FOR EACH STATEMENT EXECUTE FUNCTION state_counts_changed('{direction}')"
    return [
        f"CREATE TRIGGER {table}_counts_insert AFTER INSERT ON {table}"
        f" REFERENCING NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER {table}_counts_update AFTER UPDATE ON {table}"
        f" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER {table}_counts_delete AFTER DELETE ON {table}"
        f" REFERENCING OLD TABLE AS old_rows {run}",
        f"CREATE TRIGGER {table}_counts_truncate AFTER TRUNCATE ON {table}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION state_counts_truncated('{direction}')",
    ]


def sqlite_triggers(table: str, direction: str) -> list[str]:
    """Row-level triggers (SQLite has no others); its single writer makes them cheap."""
    row = "INSERT INTO state_counts (direction, plugin, state, n) VALUES"
    return [
        f"CREATE TRIGGER {table}_counts_insert AFTER INSERT ON {table}"
        f" BEGIN {row} ('{direction}', NEW.plugin, NEW.state, 1); END",
        f"CREATE TRIGGER {table}_counts_update AFTER UPDATE OF plugin, state ON {table}"
        " WHEN OLD.state IS NOT NEW.state OR OLD.plugin IS NOT NEW.plugin"
        f" BEGIN {row} ('{direction}', OLD.plugin, OLD.state, -1),"
        f" ('{direction}', NEW.plugin, NEW.state, 1); END",
        f"CREATE TRIGGER {table}_counts_delete AFTER DELETE ON {table}"
        f" BEGIN {row} ('{direction}', OLD.plugin, OLD.state, -1); END",
    ]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "state_counts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_counts")),
    )
    if postgres:
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRUNCATED)
    for table, direction in QUEUES.items():
        if postgres:
            # No row changes between the first count and the trigger that keeps it.
            op.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        queue = sa.table(table, sa.column("plugin"), sa.column("state"))
        first = sa.select(sa.literal(direction), queue.c.plugin, queue.c.state, sa.func.count())
        op.execute(
            COUNTS.insert().from_select(
                ["direction", "plugin", "state", "n"],
                first.group_by(queue.c.plugin, queue.c.state),
            )
        )
        for statement in (postgres_triggers if postgres else sqlite_triggers)(table, direction):
            op.execute(statement)
        op.create_index(
            f"ix_{table}_due_leases",
            table,
            ["plugin", "state", "lease_until"],
            postgresql_where=sa.text(DUE),
            sqlite_where=sa.text(DUE),
        )
    op.create_index(
        "ix_sync_state_waiting",
        "sync_state",
        ["plugin", "error_class", "lease_until"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_sync_state_waiting", table_name="sync_state")
    for table in QUEUES:
        op.drop_index(f"ix_{table}_due_leases", table_name=table)
        for event in ("insert", "update", "delete", "truncate"):
            if postgres:
                op.execute(f"DROP TRIGGER {table}_counts_{event} ON {table}")
            elif event != "truncate":
                op.execute(f"DROP TRIGGER {table}_counts_{event}")
    if postgres:
        op.execute("DROP FUNCTION state_counts_changed()")
        op.execute("DROP FUNCTION state_counts_truncated()")
    op.drop_table("state_counts")

"""admin console: attempts log, snapshots, audit, bulk jobs, web sessions, error classes

Revision ID: a001_admin_console
Revises: 0006
Create Date: 2026-12-03 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db.types
from core.sync.error_class import message_class

revision = "a001_admin_console"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = core.db.types.UTCDateTime(timezone=True)

#: The audit table refuses UPDATE and DELETE, on both databases.
POSTGRES_APPEND_ONLY = (
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ BEGIN"
    " RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
    " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
)
SQLITE_APPEND_ONLY = tuple(
    f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    for verb in ("UPDATE", "DELETE")
)


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("finished_at", WHEN, nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
    )
    op.create_index("ix_attempts_delivery", "attempts", ["direction", "plugin", "record_id", "id"])
    op.create_index("ix_attempts_finished_at", "attempts", ["finished_at"])

    op.create_table(
        "queue_snapshots",
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("dead", sa.Integer(), nullable=False),
        sa.Column("lag_seconds", sa.Float(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("states", JSON, nullable=False),
        sa.PrimaryKeyConstraint(
            "resolution", "direction", "plugin", "at", name=op.f("pk_queue_snapshots")
        ),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=True),
        sa.Column("filter", JSON, nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    bind = op.get_bind()
    for statement in (
        POSTGRES_APPEND_ONLY if bind.dialect.name == "postgresql" else SQLITE_APPEND_ONLY
    ):
        op.execute(statement)

    op.create_table(
        "admin_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("filter", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("acted", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("confirmed_at", WHEN, nullable=True),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_jobs")),
    )
    op.create_index(op.f("ix_admin_jobs_state"), "admin_jobs", ["state"])
    op.create_table(
        "admin_job_items",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("stamp", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_admin_job_items")),
    )

    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("seen_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"])

    with op.batch_alter_table("sync_state") as batch_op:
        batch_op.add_column(sa.Column("error_class", sa.String(length=32), nullable=True))
        batch_op.drop_index("ix_sync_state_plugin_state")
        batch_op.create_index("ix_sync_state_plugin_state_due", ["plugin", "state", "due_at"])
        batch_op.create_index("ix_sync_state_state_class", ["state", "error_class"])
    with op.batch_alter_table("inbox") as batch_op:
        batch_op.add_column(sa.Column("error_class", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_inbox_plugin_state_due", ["plugin", "state", "due_at"])
    _classify_stored_errors(bind)


def _classify_stored_errors(bind: sa.Connection) -> None:
    """Give the errors stored before this revision their class, one distinct message at a time.

    A row still retrying failed transiently, which decides the class of a plain message.
    """
    for table in ("sync_state", "inbox"):
        rows = bind.execute(
            sa.text(f"SELECT DISTINCT last_error FROM {table} WHERE last_error IS NOT NULL")  # noqa: S608
        ).scalars()
        for message in list(rows):
            bind.execute(
                sa.text(
                    f"UPDATE {table} SET error_class = CASE WHEN state = 'failed'"  # noqa: S608
                    " THEN :transient ELSE :permanent END WHERE last_error = :message"
                ),
                {
                    "transient": message_class(message, transient=True),
                    "permanent": message_class(message),
                    "message": message,
                },
            )


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch_op:
        batch_op.drop_index("ix_inbox_plugin_state_due")
        batch_op.drop_column("error_class")
    with op.batch_alter_table("sync_state") as batch_op:
        batch_op.drop_index("ix_sync_state_state_class")
        batch_op.drop_index("ix_sync_state_plugin_state_due")
        batch_op.create_index("ix_sync_state_plugin_state", ["plugin", "state"])
        batch_op.drop_column("error_class")
    op.drop_table("web_sessions")
    op.drop_table("admin_job_items")
    op.drop_table("admin_jobs")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("queue_snapshots")
    op.drop_table("attempts")

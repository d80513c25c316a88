"""task related record columns, for reading a lead's tasks by index

Revision ID: t001_task_related
Revises: kv001_customer_turns
Create Date: 2026-12-06 23:00:00.000000

Adds the task's ``related_type`` and ``related_id`` as typed columns with one index, and
fills them from each stored document (the columns are derived from ``data`` on every
write, see core/schemas/registry.py), in batches so a large table is not read at once.
Lead scoring reads a lead's tasks through them instead of scanning every task.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db.types import JSONDocument

revision = "t001_task_related"
down_revision = "kv001_customer_turns"
branch_labels = None
depends_on = None

#: Rows read and updated per round trip while filling the new columns.
BATCH = 2000


def _fill() -> None:
    """Copy every stored task's related record from its document into the new columns."""
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String()),
        sa.column("data", JSONDocument),
        sa.column("related_type", sa.String()),
        sa.column("related_id", sa.String()),
    )
    connection = op.get_bind()
    last = ""
    while True:
        rows = connection.execute(
            sa.select(tasks.c.id, tasks.c.data)
            .where(tasks.c.id > last)
            .order_by(tasks.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        related = [row for row in rows if row.data.get("related_id") is not None]
        if related:
            connection.execute(
                sa.update(tasks)
                .where(tasks.c.id == sa.bindparam("row_id"))
                .values(related_type=sa.bindparam("kind"), related_id=sa.bindparam("value")),
                [
                    {
                        "row_id": row.id,
                        "kind": row.data.get("related_type"),
                        "value": row.data["related_id"],
                    }
                    for row in related
                ],
            )
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("related_type", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("related_id", sa.String(128), nullable=True))
        batch_op.create_index("ix_tasks_related", ["related_type", "related_id"])
    _fill()


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_related")
        batch_op.drop_column("related_id")
        batch_op.drop_column("related_type")

"""lead channel column, for the funnel by channel

Revision ID: k003_lead_channel
Revises: k002_service_and_revenue
Create Date: 2026-12-04 18:40:00.000000

Adds the lead's ``channel`` as a typed column and fills it from each stored document
(the column is derived from ``data`` on every write, see core/schemas/registry.py), in
batches so a large table is not read at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db.types import JSONDocument

revision = "k003_lead_channel"
down_revision = "k002_service_and_revenue"
branch_labels = None
depends_on = None

#: Rows read and updated per round trip while filling the new column.
BATCH = 2000


def _fill() -> None:
    """Copy every stored lead's ``channel`` from its document into the new column."""
    leads = sa.table(
        "leads",
        sa.column("id", sa.String()),
        sa.column("data", JSONDocument),
        sa.column("channel", sa.String()),
    )
    connection = op.get_bind()
    last = ""
    while True:
        rows = connection.execute(
            sa.select(leads.c.id, leads.c.data)
            .where(leads.c.id > last)
            .order_by(leads.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        connection.execute(
            sa.update(leads)
            .where(leads.c.id == sa.bindparam("row_id"))
            .values(channel=sa.bindparam("value")),
            [{"row_id": row.id, "value": row.data.get("channel")} for row in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(200), nullable=True))
        batch_op.create_index(batch_op.f("ix_leads_channel"), ["channel"])
    _fill()


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_channel"))
        batch_op.drop_column("channel")

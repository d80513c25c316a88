"""last inbound: when each customer or lead last wrote to a plugin's channel

Revision ID: w002_last_inbound
Revises: w001_rate_slots
Create Date: 2026-12-04 18:30:00.000000

The WhatsApp plugin's 24-hour window was read from the owner's timeline; the table is
filled from the inbound WhatsApp interactions already stored, so windows open before
the upgrade stay open after it (the sender is then taken from the owner's phones).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "w002_last_inbound"
down_revision = "w001_rate_slots"
branch_labels = None
depends_on = None

#: Fills the table from the stored inbound WhatsApp messages of one kind of owner. The
#: direction is read from the document: its column comes with k001, another branch.
_FILL = (
    "INSERT INTO last_inbound (plugin, owner_type, owner_id, last_at, sender)"
    " SELECT 'whatsapp', '{owner_type}', {column}, MAX(occurred_at), NULL"
    " FROM interactions WHERE channel = 'whatsapp' AND {direction} = 'inbound'"
    " AND {column} IS NOT NULL GROUP BY {column}"
)
_DIRECTION = {"postgresql": "data->>'direction'", "sqlite": "json_extract(data, '$.direction')"}


def upgrade() -> None:
    op.create_table(
        "last_inbound",
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("owner_type", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=128), nullable=False),
        sa.Column("last_at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("plugin", "owner_type", "owner_id", name=op.f("pk_last_inbound")),
    )
    direction = _DIRECTION[op.get_bind().dialect.name]
    for owner_type, column in (("customer", "customer_id"), ("lead", "lead_id")):
        op.execute(_FILL.format(owner_type=owner_type, column=column, direction=direction))


def downgrade() -> None:
    op.drop_table("last_inbound")

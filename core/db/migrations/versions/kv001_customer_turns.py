"""customer turns: the stored (message, first reply) pairs of the average response time

Revision ID: kv001_customer_turns
Revises: k001_kpi_columns
Create Date: 2026-12-04 18:50:00.000000

Creates ``kpi_customer_turns`` (core/db/turn_tables.py) and fills it from the stored
interactions with one INSERT ... SELECT; every interaction write keeps it from then
on (core/turns.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime
from core.turns import rebuild_turns

revision = "kv001_customer_turns"
down_revision = "k001_kpi_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_customer_turns",
        sa.Column("interaction_id", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("lead_id", sa.String(128), nullable=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("replied_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_kpi_customer_turns_started_at", "kpi_customer_turns", ["started_at"])
    op.create_index("ix_kpi_customer_turns_customer", "kpi_customer_turns", ["customer_id"])
    op.create_index("ix_kpi_customer_turns_lead", "kpi_customer_turns", ["lead_id"])
    rebuild_turns(op.get_bind())


def downgrade() -> None:
    op.drop_table("kpi_customer_turns")

"""plugin pauses

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.types

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plugin_pauses",
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("paused_at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paused_by", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("plugin", name=op.f("pk_plugin_pauses")),
    )


def downgrade() -> None:
    op.drop_table("plugin_pauses")

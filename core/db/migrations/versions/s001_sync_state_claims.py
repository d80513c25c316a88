"""sync state claims: an index of the claimable rows, room for HOT updates

Revision ID: s001_sync_state_claims
Revises: a001_admin_console
Create Date: 2026-12-04 18:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s001_sync_state_claims"
down_revision = "a001_admin_console"
branch_labels = None
depends_on = None

#: The rows a worker may claim; the index holds only them, ordered by due time.
CLAIMABLE = "state IN ('pending', 'failed')"


def upgrade() -> None:
    op.create_index(
        "ix_sync_state_claimable",
        "sync_state",
        ["plugin", "due_at"],
        postgresql_where=sa.text(CLAIMABLE),
        sqlite_where=sa.text(CLAIMABLE),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Free room in each page lets PostgreSQL update a leased row in place (a HOT
        # update: no new index entries), as a claim changes no indexed column.
        op.execute("ALTER TABLE sync_state SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE sync_state RESET (fillfactor)")
    op.drop_index("ix_sync_state_claimable", table_name="sync_state")

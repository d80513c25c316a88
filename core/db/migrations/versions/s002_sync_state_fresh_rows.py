"""sync state fresh rows: the lease and error-class indexes hold only rows that need them

Revision ID: s002_sync_state_fresh_rows
Revises: s001_sync_state_claims, a002_state_counts
Create Date: 2026-12-06 22:40:00.000000

A freshly queued delivery has no lease and no error class, yet it entered both indexes:
queueing a backlog wrote six index entries per row. The in-flight count reads only
leased due rows and the error-class filters only rows with a class, so both indexes
become partial and a fresh row enters four.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s002_sync_state_fresh_rows"
down_revision = ("s001_sync_state_claims", "a002_state_counts")
branch_labels = None
depends_on = None

#: The due rows a worker holds a lease on (the console's in-flight count).
LEASED = "state IN ('pending', 'failed') AND lease_until IS NOT NULL"
#: The rows whose last attempt failed with a class of error.
CLASSED = "error_class IS NOT NULL"
DUE = "state IN ('pending', 'failed')"


def upgrade() -> None:
    op.drop_index("ix_sync_state_due_leases", table_name="sync_state")
    op.drop_index("ix_sync_state_state_class", table_name="sync_state")
    op.create_index(
        "ix_sync_state_due_leases",
        "sync_state",
        ["plugin", "state", "lease_until"],
        postgresql_where=sa.text(LEASED),
        sqlite_where=sa.text(LEASED),
    )
    op.create_index(
        "ix_sync_state_state_class",
        "sync_state",
        ["state", "error_class"],
        postgresql_where=sa.text(CLASSED),
        sqlite_where=sa.text(CLASSED),
    )


def downgrade() -> None:
    op.drop_index("ix_sync_state_state_class", table_name="sync_state")
    op.drop_index("ix_sync_state_due_leases", table_name="sync_state")
    op.create_index("ix_sync_state_state_class", "sync_state", ["state", "error_class"])
    op.create_index(
        "ix_sync_state_due_leases",
        "sync_state",
        ["plugin", "state", "lease_until"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )

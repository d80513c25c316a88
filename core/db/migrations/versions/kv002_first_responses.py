"""first responses: each lead's clock start and first outbound contact, stored

Revision ID: kv002_first_responses
Revises: kv001_customer_turns
Create Date: 2026-12-06 22:50:00.000000

Creates ``kpi_first_responses`` (core/db/first_response_tables.py) and fills it from
the stored leads and interactions with one INSERT ... SELECT written out here, so a
later change to the live code (core/first_responses.py, which keeps the table on
every write from then on) cannot change what this revision did. Indexes the latest
answer of both this table and ``kpi_customer_turns`` (``replied_at``): the response
times read the latest one to know how many working days to send with their query.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "kv002_first_responses"
down_revision = "kv001_customer_turns"
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO kpi_first_responses (lead_id, started_at, answered_at)
SELECT leads.id, leads.created_at,
       (SELECT min(interactions.occurred_at) FROM interactions
        WHERE interactions.lead_id = leads.id
          AND interactions.direction = 'outbound'
          AND interactions.channel <> 'note')
FROM leads
"""


def upgrade() -> None:
    op.create_table(
        "kpi_first_responses",
        sa.Column("lead_id", sa.String(128), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_kpi_first_responses_started_at", "kpi_first_responses", ["started_at"])
    op.create_index("ix_kpi_first_responses_answered_at", "kpi_first_responses", ["answered_at"])
    op.create_index("ix_kpi_customer_turns_replied_at", "kpi_customer_turns", ["replied_at"])
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index("ix_kpi_customer_turns_replied_at", "kpi_customer_turns")
    op.drop_table("kpi_first_responses")

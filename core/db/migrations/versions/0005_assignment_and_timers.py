"""assignment history, rotation pools, away agents and SLA timers

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-23 22:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db.types import JSONDocument, UTCDateTime

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assignment_leads",
        sa.Column("lead_id", sa.String(128), nullable=False),
        sa.Column("owner_id", sa.String(128), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(64), nullable=True),
        sa.Column("linked_to", sa.String(128), nullable=True),
        sa.Column("first_assigned_at", UTCDateTime(), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.Column("first_response_due_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_assignment_leads")),
    )
    op.create_index(op.f("ix_assignment_leads_owner_id"), "assignment_leads", ["owner_id"])
    op.create_index(op.f("ix_assignment_leads_linked_to"), "assignment_leads", ["linked_to"])
    op.create_table(
        "assignment_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_agent", sa.String(128), nullable=True),
        sa.Column("to_agent", sa.String(128), nullable=True),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(64), nullable=True),
        sa.Column("pool", sa.String(64), nullable=True),
        sa.Column("turn", sa.Integer(), nullable=True),
        sa.Column("details", JSONDocument, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_history")),
    )
    op.create_index(op.f("ix_assignment_history_to_agent"), "assignment_history", ["to_agent"])
    op.create_index(op.f("ix_assignment_history_at"), "assignment_history", ["at"])
    op.create_index(
        "ix_assignment_history_subject", "assignment_history", ["subject_type", "subject_id"]
    )
    op.create_index("ix_assignment_history_applied", "assignment_history", ["applied", "at"])
    op.create_table(
        "assignment_pools",
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pool", name=op.f("pk_assignment_pools")),
    )
    op.create_table(
        "assignment_turns",
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pool", "agent_id", name=op.f("pk_assignment_turns")),
    )
    op.create_table(
        "assignment_away",
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_assignment_away")),
    )
    op.create_table(
        "sla_timers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("decision", JSONDocument, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_timers")),
    )
    op.create_index("ix_sla_timers_due", "sla_timers", ["state", "due_at"])
    op.create_index("ix_sla_timers_subject", "sla_timers", ["subject_type", "subject_id"])


def downgrade() -> None:
    op.drop_table("sla_timers")
    op.drop_table("assignment_away")
    op.drop_table("assignment_turns")
    op.drop_table("assignment_pools")
    op.drop_table("assignment_history")
    op.drop_table("assignment_leads")

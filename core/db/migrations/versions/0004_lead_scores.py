"""lead scores and predictive lead-scoring models

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 22:22:45.783901
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "lead_score_models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trained_at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("training_rows", sa.Integer(), nullable=False),
        sa.Column("training_conversions", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_score_models")),
    )
    with op.batch_alter_table("lead_score_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lead_score_models_trained_at"), ["trained_at"], unique=False
        )

    op.create_table(
        "lead_scores",
        sa.Column("lead_id", sa.String(length=128), nullable=False),
        sa.Column("lead_version", sa.Integer(), nullable=False),
        sa.Column("fit_cents", sa.Integer(), nullable=False),
        sa.Column("engagement_cents", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=False),
        sa.Column("qualification", sa.String(length=8), nullable=False),
        sa.Column("published_qualification", sa.String(length=8), nullable=False),
        sa.Column("rules_digest", sa.String(length=64), nullable=False),
        sa.Column("explanation", _json(), nullable=False),
        sa.Column("scored_at", core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("factors", _json(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("predicted_at", core.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_lead_scores")),
    )
    with op.batch_alter_table("lead_scores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lead_scores_qualification"), ["qualification"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lead_scores_total_cents"), ["total_cents"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lead_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_scores_total_cents"))
        batch_op.drop_index(batch_op.f("ix_lead_scores_qualification"))
    op.drop_table("lead_scores")
    with op.batch_alter_table("lead_score_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_score_models_trained_at"))
    op.drop_table("lead_score_models")

"""service cases, survey answers, subscriptions; MQL date on leads, case of an interaction

Revision ID: k002_service_and_revenue
Revises: k001_kpi_columns
Create Date: 2026-12-04 18:30:00.000000

Adds the three record tables the service and recurring-revenue KPIs read, and the
lead's ``mql_at`` and the interaction's ``case_id`` columns. No stored document can
hold the two new fields yet (the schemas refused unknown fields), so there is
nothing to fill.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from core.db.types import JSONDocument, UTCDateTime

revision = "k002_service_and_revenue"
down_revision = "k001_kpi_columns"
branch_labels = None
depends_on = None

AMOUNT = sa.Numeric(24, 4, asdecimal=False)

#: Per new table: (column, type, nullable, indexed), after the columns of every record.
TABLES: dict[str, list[tuple[str, Any, bool, bool]]] = {
    "service_cases": [
        ("customer_id", sa.String(128), False, True),
        ("owner_id", sa.String(128), True, True),
        ("channel", sa.String(200), True, True),
        ("product_line", sa.String(200), True, True),
        ("status", sa.String(64), False, True),
        ("opened_at", UTCDateTime(), False, True),
        ("resolved_at", UTCDateTime(), True, True),
        ("reopened_at", UTCDateTime(), True, False),
        ("agent_interactions", sa.Integer(), True, False),
    ],
    "survey_answers": [
        ("scale", sa.String(16), False, True),
        ("rating", sa.Integer(), False, False),
        ("answered_at", UTCDateTime(), False, True),
        ("interaction_id", sa.String(128), True, True),
        ("case_id", sa.String(128), True, True),
        ("customer_id", sa.String(128), True, True),
        ("agent_id", sa.String(128), True, True),
        ("channel", sa.String(200), True, True),
    ],
    "subscriptions": [
        ("customer_id", sa.String(128), False, True),
        ("product_line", sa.String(200), True, True),
        ("owner_id", sa.String(128), True, True),
        ("billing", sa.String(16), False, False),
        ("monthly_amount", AMOUNT, False, False),
        ("start_date", sa.Date(), False, True),
        ("end_date", sa.Date(), True, True),
    ],
}

#: New indexed, nullable columns of existing tables.
COLUMNS: dict[str, list[tuple[str, Any]]] = {
    "leads": [("mql_at", UTCDateTime())],
    "interactions": [("case_id", sa.String(128))],
}


def _record_columns() -> list[sa.Column[Any]]:
    """The columns every record table has (core.db.base.RecordMixin)."""
    return [
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("data", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    for table_name, columns in TABLES.items():
        op.create_table(
            table_name,
            *(sa.Column(name, type_, nullable=nullable) for name, type_, nullable, _ in columns),
            *_record_columns(),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table_name}")),
        )
        with op.batch_alter_table(table_name) as batch_op:
            for name in ["updated_at", *(name for name, _, _, indexed in columns if indexed)]:
                batch_op.create_index(batch_op.f(f"ix_{table_name}_{name}"), [name])
    for table_name, added in COLUMNS.items():
        with op.batch_alter_table(table_name) as batch_op:
            for name, type_ in added:
                batch_op.add_column(sa.Column(name, type_, nullable=True))
                batch_op.create_index(batch_op.f(f"ix_{table_name}_{name}"), [name])


def downgrade() -> None:
    for table_name, added in COLUMNS.items():
        with op.batch_alter_table(table_name) as batch_op:
            for name, _ in added:
                batch_op.drop_index(batch_op.f(f"ix_{table_name}_{name}"))
                batch_op.drop_column(name)
    for table_name in TABLES:
        op.drop_table(table_name)

"""sales KPI columns: lead source and dates, opportunity facts, interaction direction, task done

Revision ID: k001_kpi_columns
Revises: a001_admin_console
Create Date: 2026-12-03 14:20:00.000000

Adds the typed columns the sales KPIs, the funnel and the pipeline board query, and
fills them from each stored document (the columns are derived from ``data`` on every
write, see core/schemas/registry.py), in batches so a large table is not read at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from core.db.types import JSONDocument, UTCDateTime

revision = "k001_kpi_columns"
down_revision = "a001_admin_console"
branch_labels = None
depends_on = None

AMOUNT = sa.Numeric(24, 4, asdecimal=False)
#: Rows read and updated per round trip while filling the new columns.
BATCH = 2000


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _amount(value: Any) -> float | None:
    return float(value) if value is not None else None


#: Per table: (column, type, indexed, how to derive it from the document).
COLUMNS: dict[str, list[tuple[str, Any, bool, Callable[[dict[str, Any]], Any]]]] = {
    "agents": [("team", sa.String(200), True, lambda d: d.get("team"))],
    "leads": [
        ("source", sa.String(200), True, lambda d: d.get("source")),
        ("qualified_at", UTCDateTime(), True, lambda d: _when(d.get("qualified_at"))),
        ("converted_at", UTCDateTime(), True, lambda d: _when(d.get("converted_at"))),
    ],
    "opportunities": [
        ("lead_id", sa.String(128), True, lambda d: d.get("lead_id")),
        ("amount", AMOUNT, False, lambda d: _amount(d.get("amount"))),
        ("probability", sa.Integer(), False, lambda d: d.get("probability")),
        ("expected_close_date", sa.Date(), False, lambda d: _day(d.get("expected_close_date"))),
        ("product_line", sa.String(200), True, lambda d: d.get("product_line")),
        ("lost_reason", sa.Text(), False, lambda d: d.get("lost_reason")),
        ("opened_at", UTCDateTime(), True, lambda d: _when(d.get("opened_at"))),
        ("closed_at", UTCDateTime(), True, lambda d: _when(d.get("closed_at"))),
    ],
    "interactions": [("direction", sa.String(16), False, lambda d: d.get("direction"))],
    "tasks": [("done_at", UTCDateTime(), False, lambda d: _when(d.get("done_at")))],
}

#: Composite indexes of the timelines the response-time KPIs walk.
TIMELINES = {
    "ix_interactions_lead_timeline": ["lead_id", "occurred_at"],
    "ix_interactions_customer_timeline": ["customer_id", "occurred_at"],
}


def _fill(table_name: str) -> None:
    """Derive the new columns of every stored row of ``table_name`` from its document."""
    columns = COLUMNS[table_name]
    table = sa.table(
        table_name,
        sa.column("id", sa.String()),
        sa.column("data", JSONDocument),
        *(sa.column(name, type_) for name, type_, _, _ in columns),
    )
    connection = op.get_bind()
    last = ""
    while True:
        rows = connection.execute(
            sa.select(table.c.id, table.c.data)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        values = [
            {"row_id": row.id, **{name: derive(row.data) for name, _, _, derive in columns}}
            for row in rows
        ]
        connection.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("row_id"))
            .values({name: sa.bindparam(name) for name, _, _, _ in columns}),
            values,
        )
        last = rows[-1].id


def upgrade() -> None:
    for table_name, columns in COLUMNS.items():
        with op.batch_alter_table(table_name) as batch_op:
            for name, type_, indexed, _ in columns:
                batch_op.add_column(sa.Column(name, type_, nullable=True))
                if indexed:
                    batch_op.create_index(batch_op.f(f"ix_{table_name}_{name}"), [name])
        _fill(table_name)
    for index_name, indexed_columns in TIMELINES.items():
        op.create_index(index_name, "interactions", indexed_columns)


def downgrade() -> None:
    for name in TIMELINES:
        op.drop_index(name, table_name="interactions")
    for table_name, columns in COLUMNS.items():
        with op.batch_alter_table(table_name) as batch_op:
            for name, _, indexed, _ in columns:
                if indexed:
                    batch_op.drop_index(batch_op.f(f"ix_{table_name}_{name}"))
                batch_op.drop_column(name)

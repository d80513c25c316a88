"""Migration k001 fills the KPI columns of records stored before it, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.db.engine import create_db_engine
from core.db.migrate import downgrade, upgrade
from core.db.records import InteractionRow, LeadRow, OpportunityRow, TaskRow
from tests.kpis.conftest import database, seed, tehran


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrading_fills_the_columns_from_the_documents(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        engine = create_db_engine(url)
        try:
            upgrade(engine)
            seed(engine)
            downgrade(engine, "a001_admin_console")
            upgrade(engine)
            with engine.connect() as connection:
                lead = connection.execute(
                    select(LeadRow.source, LeadRow.qualified_at, LeadRow.converted_at).where(
                        LeadRow.id == "L1"
                    )
                ).one()
                deal = connection.execute(
                    select(
                        OpportunityRow.lead_id,
                        OpportunityRow.amount,
                        OpportunityRow.product_line,
                        OpportunityRow.closed_at,
                    ).where(OpportunityRow.id == "O1")
                ).one()
                direction = connection.execute(
                    select(InteractionRow.direction).where(InteractionRow.id == "M1")
                ).scalar_one()
                done_at = connection.execute(
                    select(TaskRow.done_at).where(TaskRow.id == "T1")
                ).scalar_one()
        finally:
            engine.dispose()
    assert tuple(lead) == ("web", tehran(9, 25, 10), tehran(10, 6, 10))
    assert tuple(deal) == ("L1", 1_000_000.0, "pumps", tehran(10, 6))
    assert direction == "inbound"
    assert done_at == tehran(9, 25, 16)


NEW_TABLES = ("service_cases", "survey_answers", "subscriptions")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migrations_k002_and_k003_build_what_the_models_describe(kind: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.db.base import Base

    with database(kind, tmp_path) as url:
        engine = create_db_engine(url)
        try:
            upgrade(engine)
            downgrade(engine, "k001_kpi_columns")
            upgrade(engine)
            with engine.connect() as connection:
                differences = compare_metadata(
                    MigrationContext.configure(connection), Base.metadata
                )
        finally:
            engine.dispose()
    touched = [
        difference
        for difference in differences
        if any(name in repr(difference) for name in (*NEW_TABLES, "mql_at", "case_id"))
    ]
    assert touched == []

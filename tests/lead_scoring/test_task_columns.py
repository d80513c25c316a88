"""A lead's tasks are read through the tasks' related-record columns (migration t001)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from core.db.base import Base
from core.db.engine import create_db_engine
from core.db.migrate import downgrade, upgrade
from core.db.records import TaskRow
from lead_scoring.reading import load_tasks
from tests.kpis.conftest import database, put, tehran

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def task(engine: object, task_id: str, **related: str) -> None:
    """Write one open follow-up task, about the record named in ``related`` if any."""
    body = {"subject": task_id, "due_at": "2025-10-01T12:00:00+03:30", "status": "open", **related}
    put(engine, "task", task_id, body, tehran(9, 20))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", DATABASES)
def test_a_leads_tasks_come_from_the_columns_kept_on_every_write(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        engine = create_db_engine(url)
        try:
            upgrade(engine)
            task(engine, "T1", related_type="lead", related_id="L1")
            task(engine, "T2", related_type="lead", related_id="L1")
            task(engine, "T3", related_type="lead", related_id="L2")
            task(engine, "T4", related_type="proforma", related_id="L1")
            task(engine, "T5")
            task(engine, "T2", related_type="lead", related_id="L2")  # moved to another lead
            tasks = load_tasks(engine, ["L1", "L2", "L3"])
            with engine.connect() as connection:
                columns = dict(
                    (row.id, row.related_id)
                    for row in connection.execute(select(TaskRow.id, TaskRow.related_id))
                )
        finally:
            engine.dispose()
    assert {lead: len(found) for lead, found in tasks.items()} == {"L1": 1, "L2": 2}
    assert columns == {"T1": "L1", "T2": "L2", "T3": "L2", "T4": "L1", "T5": None}


@pytest.mark.parametrize("kind", DATABASES)
def test_migration_t001_fills_the_columns_of_stored_tasks(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        engine = create_db_engine(url)
        try:
            upgrade(engine)
            task(engine, "T1", related_type="lead", related_id="L1")
            task(engine, "T2", related_type="customer", related_id="C1")
            task(engine, "T3")
            downgrade(engine, "kv001_customer_turns")
            upgrade(engine)
            with engine.connect() as connection:
                rows = connection.execute(
                    select(TaskRow.id, TaskRow.related_type, TaskRow.related_id).order_by(
                        TaskRow.id
                    )
                ).all()
                differences = compare_metadata(
                    MigrationContext.configure(connection), Base.metadata
                )
            tasks = load_tasks(engine, ["L1"])
        finally:
            engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("T1", "lead", "L1"),
        ("T2", "customer", "C1"),
        ("T3", None, None),
    ]
    assert [difference for difference in differences if "tasks" in repr(difference)] == []
    assert len(tasks["L1"]) == 1

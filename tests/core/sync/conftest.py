"""Fixtures for the sync engine's tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.db.engine import create_db_engine
from core.testing.schema import migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty migrated database on SQLite and on PostgreSQL, disposed of afterwards."""
    if request.param == "postgresql":
        url = request.getfixturevalue("migrated_postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()

"""The complete metadata of crm-sync's tables, for migrations and schema checks."""

from __future__ import annotations

from core.db import (
    admin_tables,
    first_response_tables,
    inbound_tables,
    records,
    sync_tables,
    turn_tables,
)
from core.db.base import Base
from lead_scoring import store as lead_scoring_store  # noqa: F401  (lead scoring's tables)
from lead_scoring.assignment import tables as assignment_tables  # noqa: F401  (assignment's tables)

metadata = Base.metadata

__all__ = [
    "admin_tables",
    "first_response_tables",
    "inbound_tables",
    "metadata",
    "records",
    "sync_tables",
    "turn_tables",
]

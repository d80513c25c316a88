"""Events: what happened to a record (a promise moved, an invoice was paid).

They make a record's timeline and reach plugins that subscribe to ``event.<type>``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from core.schemas.base import CanonicalModel, RecordId
from core.schemas.fields import Timestamp

EventType = Annotated[str, Field(pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$", max_length=64)]


class Event(CanonicalModel):
    """One event about one record; written by core and plugins, read-only through the API."""

    type: EventType
    subject_type: Annotated[str, Field(min_length=1, max_length=32)]
    subject_id: RecordId
    source: Annotated[str, Field(min_length=1, max_length=64)]
    occurred_at: Timestamp
    payload: dict[str, Any] = Field(default_factory=dict)

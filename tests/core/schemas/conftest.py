"""Valid example bodies of every kind, with Persian text and digits where people type them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from core.testing.samples import SAMPLES as BODIES


@pytest.fixture
def bodies() -> dict[str, dict[str, Any]]:
    """Return a fresh deep copy of the example bodies, safe to change in a test."""
    return copy.deepcopy(BODIES)

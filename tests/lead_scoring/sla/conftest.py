"""SLA tests share the assignment tests' database, clock and record helpers."""

from tests.lead_scoring.assignment.conftest import make_settings, world

__all__ = ["make_settings", "world"]

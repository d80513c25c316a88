"""Alembic migrations of the crm-sync schema."""

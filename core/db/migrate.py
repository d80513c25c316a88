"""Schema migrations: upgrade, and the check that refuses to run on an old schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    """The database schema is older (or newer) than this release expects."""


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database schema up to ``revision`` (every newest head by default)."""
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database schema back to ``revision``, undoing every migration after it.

    For tests of a migration's data step: records stored, the schema taken back, then
    upgraded again over them. Releases never downgrade a live database.
    """
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """Return the schema revisions the database is at (comma-separated), or None if empty."""
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


def head_revision() -> str | None:
    """Return the newest schema revisions this release knows (comma-separated)."""
    heads = ScriptDirectory.from_config(_config_without_engine()).get_heads()
    return ",".join(sorted(heads)) or None


def _config_without_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def check_schema(engine: Engine) -> None:
    """Raise SchemaOutOfDate with the command that fixes it unless the schema is current."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current or 'none'} but this release needs "
            f"{head}: run `crm-sync db upgrade` first"
        )

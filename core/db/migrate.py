"""Schema migrations: upgrade, and the check that refuses to run on an old schema.

The check runs at the start of every command, so it reads the revision files' ids
without importing Alembic or running the files (a fifth of a second of start-up);
upgrades and downgrades go through Alembic.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: The table where Alembic keeps the revisions a database is at.
VERSION_TABLE = "alembic_version"


class SchemaOutOfDate(RuntimeError):
    """The database schema is older (or newer) than this release expects."""


def _config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database schema up to ``revision`` (every newest head by default)."""
    from alembic import command

    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database schema back to ``revision``, undoing every migration after it.

    For tests of a migration's data step: records stored, the schema taken back, then
    upgraded again over them. Releases never downgrade a live database.
    """
    from alembic import command

    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """Return the schema revisions the database is at (comma-separated), or None if empty."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        heads = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return ",".join(sorted(heads)) or None


def head_revision() -> str | None:
    """Return the newest schema revisions this release knows (comma-separated)."""
    return ",".join(sorted(_heads())) or None


@cache
def _heads() -> frozenset[str]:
    """The revisions no other revision follows, read from the files' ``revision`` lines."""
    parents: dict[str, set[str]] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        ids = _revision_ids(path)
        if ids is not None:
            parents[ids[0]] = ids[1]
    followed = set().union(*parents.values())
    return frozenset(parents.keys() - followed)


def _revision_ids(path: Path) -> tuple[str, set[str]] | None:
    """A revision file's id and the ids it follows; None for a file without ``revision``."""
    values: dict[str, object] = {}
    for node in _module_head(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            values[target.id] = ast.literal_eval(value)
    revision, down = values.get("revision"), values.get("down_revision")
    if not isinstance(revision, str):
        return None
    if isinstance(down, str):
        return revision, {down}
    if isinstance(down, tuple | list):
        return revision, {str(item) for item in down}
    return revision, set()


def _module_head(source: str) -> ast.Module:
    """The statements of a revision file before its first function, where its ids are.

    Every process checks the schema when it starts, so it parses the heads of the files
    instead of their migrations; a head that does not parse alone is parsed whole.
    """
    try:
        return ast.parse(source.split("\ndef ", 1)[0])
    except SyntaxError:
        return ast.parse(source)


def check_schema(engine: Engine) -> None:
    """Raise SchemaOutOfDate with the command that fixes it unless the schema is current."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current or 'none'} but this release needs "
            f"{head}: run `crm-sync db upgrade` first"
        )

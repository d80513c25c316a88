"""The schema check every command starts with reads the revision files as Alembic does."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from core.db.engine import create_db_engine
from core.db.migrate import MIGRATIONS, _revision_ids, current_revision, head_revision, upgrade


def test_the_heads_read_from_the_files_are_alembics() -> None:
    """Without importing the revision files, the same heads as Alembic's script directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) > 1
    assert head_revision() == ",".join(sorted(heads))


def test_an_empty_database_has_no_revision_and_an_upgraded_one_the_heads(tmp_path: Path) -> None:
    """No version table reads as none; after an upgrade the database is at every head."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_revision_file_whose_head_does_not_parse_alone_is_parsed_whole(
    tmp_path: Path,
) -> None:
    """A docstring holding a line that starts with ``def `` still yields the file's ids."""
    path = tmp_path / "x001_example.py"
    path.write_text(
        '"""An example\n\ndef looks like code here\n"""\n\nrevision = "x001"\n'
        'down_revision = ("a001", "b002")\n\n\ndef upgrade() -> None:\n    pass\n',
        encoding="utf-8",
    )
    assert _revision_ids(path) == ("x001", {"a001", "b002"})

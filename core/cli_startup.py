"""What every command does first: settings and logging, its runtime, the database's schema.

Each failure is one line on stderr naming what to fix (the setting, the command to
run) and exit code 2, never a traceback. ``core.cli`` and ``core.admin.cli`` share
these, so the admin commands stop the same way ``serve`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from core.db.migrate import SchemaOutOfDate, check_schema, upgrade
from core.errors import ConfigurationError
from core.settings import Settings, load_settings

console = Console()
errors = Console(stderr=True)
#: Loggers whose INFO lines are kept off the terminal unless asked for (each revision applied).
QUIET_LOGGERS = ("alembic",)
#: Set by ``crm-sync --verbose``: show the quiet loggers' INFO lines too.
verbose = False


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except Exception as error:
        raise _fail(f"invalid settings: {error}") from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    asked = verbose or "log_level" in settings.model_fields_set
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if asked else logging.WARNING)
    return settings


def database_setting(settings: Settings) -> str:
    """Which setting names the database, as people set it: for an error that cannot open it."""
    if settings.database_url:
        return "database_url (CRM_SYNC_DATABASE_URL)"
    return f"data_dir (CRM_SYNC_DATA_DIR, now {settings.data_dir})"


def _cannot_open(settings: Settings, engine: Any, error: SQLAlchemyError) -> typer.Exit:
    where = engine.url.render_as_string(hide_password=True)
    return _fail(
        f"cannot open the database {where}, set by {database_setting(settings)}: "
        f"{getattr(error, 'orig', error)}"
    )


def _runtime(settings: Settings) -> Any:
    from core.sync.runtime import SyncRuntime

    try:
        return SyncRuntime(settings)
    except ConfigurationError as error:
        raise _fail(str(error)) from None


def _progress() -> Progress:
    """A progress display of counted work: what, bar, done of total, time taken."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    return Progress(*columns, console=console)


@contextmanager
def _open_runtime(settings: Settings) -> Iterator[Any]:
    """A runtime for one command, closed when the command ends, failed or not."""
    runtime = _runtime(settings)
    try:
        yield runtime
    finally:
        runtime.close()


def _current_schema(engine: Any, settings: Settings) -> None:
    """Stop with a clear message unless the database opens and its schema is current."""
    try:
        check_schema(engine)
    except SchemaOutOfDate as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _cannot_open(settings, engine, error) from None


def upgrades_itself(settings: Settings) -> bool:
    """Whether start-up brings the schema up to date: SQLite in development, default or not.

    An embedded SQLite file belongs to the one crm-sync that uses it, so nobody else
    runs its migrations; a PostgreSQL database is shared and upgraded on purpose
    (``crm-sync db upgrade``), and production never runs on SQLite.
    """
    return settings.environment == "development" and settings.resolved_database_url.startswith(
        "sqlite"
    )


def _make_data_dir(settings: Settings) -> None:
    """Create the data folder, or stop saying which setting names it and why it cannot be."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _fail(
            f"cannot create the data folder {settings.data_dir}, set by data_dir "
            f"(CRM_SYNC_DATA_DIR): {error.strerror or error}"
        ) from None


def _upgrade(settings: Settings, engine: Any) -> None:
    if settings.database_url is None:
        _make_data_dir(settings)
    try:
        upgrade(engine)
    except SQLAlchemyError as error:
        raise _cannot_open(settings, engine, error) from None


def _ready_schema(settings: Settings, runtime: Any) -> None:
    if upgrades_itself(settings):
        _upgrade(settings, runtime.engine)
        return
    _current_schema(runtime.engine, settings)

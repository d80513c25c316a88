"""The ``crm-sync`` command line: serve, worker, db, plugins, queues, dead, resync, receiver..."""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from core import cli_startup as startup
from core.cli_startup import (  # the helpers every command starts with
    _cannot_open,
    _current_schema,
    _fail,
    _make_data_dir,
    _open_runtime,
    _progress,
    _ready_schema,
    _settings,
    _upgrade,
    console,
)
from core.db.engine import create_db_engine
from core.db.migrate import SchemaOutOfDate, check_schema, current_revision, head_revision
from core.errors import ConfigurationError
from core.kinds import kind_by_type, kind_named
from core.settings import Settings

#: Commands defined in other modules: (module, attribute), imported only when the
#: command runs or the help lists it, so ``resync`` or ``worker`` does not start by
#: importing the KPI reports, the spreadsheet writer or the test receiver.
ELSEWHERE = {
    "audit": ("core.admin.cli", "audit_app"),
    "customers": ("kpis.customers_cli", "customers"),
    "dead": ("core.admin.cli", "dead_app"),
    "export": ("kpis.export_cli", "export"),
    "kpis": ("kpis.cli", "kpis"),
    "plugin": ("core.scaffold.command", "plugin_app"),
    "queues": ("core.admin.cli", "queues_app"),
    "receiver": ("core.receiver_command", "receiver"),
}


class _Commands(TyperGroup):
    """The top-level commands: this module's own, and those of :data:`ELSEWHERE`."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command's name, this module's and the others', in order."""
        return sorted({*super().list_commands(ctx), *ELSEWHERE})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command of that name: this module's, else the other module's, imported now."""
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in ELSEWHERE:
            return found
        module, attribute = ELSEWHERE[cmd_name]
        value = getattr(importlib.import_module(module), attribute)
        if isinstance(value, typer.Typer):
            group = typer.main.get_group(value)
            group.name = cmd_name
            return group
        single = typer.Typer()
        single.command(cmd_name)(value)
        return typer.main.get_command(single)


app = typer.Typer(
    cls=_Commands,
    help="crm-sync: the integration hub between a CRM and the systems around it.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
inbox_app = typer.Typer(help="Inbound events targets sent or polls found.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(inbox_app, name="inbox")


@app.callback()
def options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="also show the INFO lines of migrations")
    ] = False,
) -> None:
    """Options of every command."""
    startup.verbose = verbose


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Run the HTTP API (and, on the embedded default, the workers inside it)."""
    import uvicorn

    from core.api.app import create_app
    from core.api.auth import ensure_admin_token

    settings = _settings()
    if settings.environment == "production" and not settings.api_tokens:
        raise _fail("production needs CRM_SYNC_API_TOKENS: the API and the console refuse to start")
    _make_data_dir(settings)
    with _open_runtime(settings) as runtime:
        _ready_schema(settings, runtime)
        if not settings.api_tokens:
            token, created = ensure_admin_token(settings)
            path = settings.data_dir / "admin-token"
            if created:
                console.print(
                    f"Created an admin API token (saved in {path}, shown only now):\n{token}"
                )
            else:
                console.print(f"Using the admin API token in {path}")
        mode = "embedded (in-process broker and workers)" if settings.embedded else "API only"
        active = ", ".join(runtime.host.active()) or "none active"
        console.print(f"crm-sync serving on http://{host}:{port} ({mode}); plugins: {active}")
        uvicorn.run(create_app(runtime), host=host, port=port, log_level=settings.log_level.lower())


@app.command()
def worker(
    processes: Annotated[int, typer.Option(min=1, help="worker processes")] = 2,
    threads: Annotated[int, typer.Option(min=1, help="threads per process")] = 8,
    metrics_host: Annotated[
        str, typer.Option(help="address of the worker metrics' /metrics")
    ] = "127.0.0.1",
    metrics_port: Annotated[
        int, typer.Option(min=-1, max=65535, help="port of the worker metrics; -1: none")
    ] = 9464,
) -> None:
    """Run Dramatiq worker processes for a Redis or RabbitMQ deployment."""
    from core.sync.worker import Supervisor

    settings = _settings()
    if settings.embedded:
        raise _fail(
            "worker needs CRM_SYNC_BROKER_URL (redis:// or amqp://); "
            "on the embedded default `crm-sync serve` runs the workers itself"
        )
    with _open_runtime(settings) as runtime:
        _current_schema(runtime.engine, settings)
    supervisor = Supervisor(
        processes,
        threads,
        settings.log_level,
        metrics_host=metrics_host,
        metrics_port=None if metrics_port < 0 else metrics_port,
    )
    try:
        supervisor.run()
    except ConfigurationError as error:
        raise _fail(str(error)) from None


@app.command()
def scheduler() -> None:
    """Poll targets that cannot push and run periodic jobs (one active at a time)."""
    import signal
    import threading

    from core.sync.scheduler import Scheduler
    from lead_scoring.plugin import periodic_jobs as lead_scoring_jobs
    from lead_scoring.sla import periodic_jobs as sla_jobs

    settings = _settings()
    with _open_runtime(settings) as runtime:
        _ready_schema(settings, runtime)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        running = Scheduler(runtime, [*lead_scoring_jobs(runtime), *sla_jobs(runtime)])
        running.start()
        console.print("crm-sync scheduler running (stand-by while another one holds the lease)")
        stop.wait()
        running.stop()


@inbox_app.command("list")
def inbox_list(
    plugin: PluginOpt = None,
    state: Annotated[str | None, typer.Option(help="pending, applied, failed or dead")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show stored inbound events and why dead ones failed."""
    from core.admin.cli import known_plugin
    from core.sync.admin import list_inbox

    settings = _settings()
    with _open_runtime(settings) as runtime:
        _current_schema(runtime.engine, settings)
        rows = list_inbox(runtime.engine, plugin=known_plugin(runtime, plugin), state=state)
    if as_json:
        console.print_json(json.dumps([asdict(row) for row in rows], default=str))
        return
    table = Table("plugin", "event", "type", "state", "attempts", "received", "reason")
    for row in rows:
        table.add_row(
            row.plugin,
            row.event_id,
            row.type,
            row.state,
            str(row.attempts),
            str(row.received_at),
            escape(row.last_error or "-"),
        )
    console.print(table)


@inbox_app.command("retry")
def inbox_retry(
    plugin: PluginOpt = None,
    event_id: Annotated[str | None, typer.Option("--event", help="only this event id")] = None,
    every: AllOpt = False,
) -> None:
    """Apply dead inbound events again (after fixing the record or the plugin)."""
    from core.admin.cli import known_plugin
    from core.sync.admin import retry_inbox

    if not (every or plugin or event_id):
        raise _fail("name --plugin or --event, or pass --all")
    settings = _settings()
    with _open_runtime(settings) as runtime:
        _current_schema(runtime.engine, settings)
        plugin = known_plugin(runtime, plugin)
        ids = retry_inbox(runtime.engine, plugin=plugin, event_id=event_id)
        if not settings.embedded:
            for name, plugin_ids in ids.items():
                runtime.dispatch_inbound(name, plugin_ids)
    console.print(f"retrying {sum(len(i) for i in ids.values())} inbound events")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    engine = create_db_engine(settings.resolved_database_url)
    _upgrade(settings, engine)
    console.print(f"database schema at {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the one this release needs."""
    settings = _settings()
    engine = create_db_engine(settings.resolved_database_url)
    try:
        current = current_revision(engine)
    except SQLAlchemyError as error:
        raise _cannot_open(settings, engine, error) from None
    console.print(f"database: {current or 'empty'}; needed: {head_revision()}")


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="run each active plugin's health check")
    ] = False,
) -> None:
    """List installed plugins: version, status, target, subscriptions and hooks.

    With ``--check`` each active plugin's health check runs (an ERP backend also checks
    the access rights it needs); the command exits 1 when any check fails.
    """
    from core.plugins import PluginHost

    settings = _settings()
    try:
        host = PluginHost(settings)
    except ConfigurationError as error:
        raise _fail(str(error)) from None
    rows = []
    for info in host.installed():
        description = info.description
        row: dict[str, Any] = {
            "name": info.name,
            "version": info.version,
            "status": info.status,
            "target": description.target if description else None,
            "subscriptions": list(description.subscriptions) if description else [],
            "hooks": info.hooks,
        }
        if check and info.status == "active":
            report = _health(settings, host, info.name)
            row["health"] = {"ok": report.ok, "detail": report.detail}
        rows.append(row)
    host.close()
    failed = [row["name"] for row in rows if "health" in row and not row["health"]["ok"]]
    if as_json:
        console.print_json(json.dumps(rows))
        if failed:
            raise typer.Exit(1)
        return
    table = Table("plugin", "version", "status", "target", "subscriptions", "hooks")
    for row in rows:
        status = row["status"] if row["status"] != "idle" else "idle (no target configured)"
        if "health" in row:
            status += " ✓" if row["health"]["ok"] else f" ✗ {row['health']['detail']}"
        table.add_row(
            row["name"],
            row["version"],
            status,
            row["target"] or "-",
            ", ".join(row["subscriptions"]) or "-",
            "\n".join(row["hooks"]),
        )
    console.print(table)
    if failed:
        raise typer.Exit(1)


def _health(settings: Settings, host: Any, plugin: str) -> Any:
    """A plugin's health, unhealthy while its sending is paused in the database.

    A database that does not exist yet or has an old schema holds no pause, so the
    plugin's own health check answers alone.
    """
    from core.sync.pause import health_of

    engine = create_db_engine(settings.resolved_database_url)
    try:
        try:
            check_schema(engine)
        except (SchemaOutOfDate, SQLAlchemyError):
            return host.health(plugin)
        return health_of(engine, host, plugin)
    finally:
        engine.dispose()


PluginOpt = Annotated[str | None, typer.Option("--plugin", help="only this plugin")]
KindOpt = Annotated[
    str | None, typer.Option("--kind", help="only this kind: customers (or customer), leads...")
]
AllOpt = Annotated[bool, typer.Option("--all", help="every dead delivery")]


@app.command()
def resync(
    plugin: Annotated[str, typer.Argument(help="the plugin to send everything to")],
    kind: KindOpt = None,
    wait: Annotated[bool, typer.Option(help="wait until every document is delivered")] = True,
) -> None:
    """Send every record the plugin subscribes to again (initial load of a new system)."""
    import time

    from core.plugins import only_plugin
    from core.store import count_records
    from core.sync.admin import outstanding
    from core.sync.admin import resync as queue_all

    settings = _settings()
    with _open_runtime(only_plugin(settings, plugin)) as runtime:
        _current_schema(runtime.engine, settings)
        if plugin not in runtime.host.active():
            with _open_runtime(settings) as every:
                active = ", ".join(every.host.active()) or "none"
            raise _fail(
                f"plugin {plugin!r} is not installed, enabled and configured; active: {active}"
            )
        subscribed = list(runtime.host.description(plugin).subscriptions)
        named = None if kind is None else kind_named(kind)
        if kind is not None and named is None:
            raise _fail(f"unknown kind {kind!r}; {plugin} takes {', '.join(subscribed)}")
        if named is not None and named.type not in subscribed:
            takes = ", ".join(subscribed)
            raise _fail(f"plugin {plugin!r} does not subscribe to {kind!r}; it takes {takes}")
        kinds = [named] if named is not None else [kind_by_type(k) for k in subscribed]
        total = sum(count_records(runtime.engine, k) for k in kinds)
        with _progress() as progress:
            queued = progress.add_task("queued", total=total)
            advance = lambda n: progress.advance(queued, n)  # noqa: E731
            batches = queue_all(
                runtime.engine, plugin, kinds, progress=advance, mark_enqueued=not settings.embedded
            )
            for refs in batches:
                if not settings.embedded:
                    runtime.dispatch(plugin, refs)
            if wait:
                delivered = progress.add_task("delivered", total=total)
                left = outstanding(runtime.engine, plugin)
                while left > 0:
                    progress.update(delivered, completed=total - left)
                    time.sleep(0.5)
                    left = outstanding(runtime.engine, plugin)
                progress.update(delivered, completed=total)


@app.command()
def score(
    every: Annotated[bool, typer.Option("--all", help="rescore every lead (bulk path)")] = False,
    train: Annotated[bool, typer.Option("--train", help="retrain the predictive model")] = False,
    lead: Annotated[list[str] | None, typer.Option("--lead", help="rescore one lead")] = None,
) -> None:
    """Lead scoring: retrain the model (--train), rescore every lead (--all) or some (--lead)."""
    from core.store import count_records
    from lead_scoring.plugin import NAME, scorer
    from lead_scoring.service import train as train_model

    if not (every or train or lead):
        raise _fail("say what to do: --train, --all or --lead ID")
    settings = _settings()
    with _open_runtime(settings) as runtime:
        _current_schema(runtime.engine, settings)
        if NAME not in runtime.host.active():
            raise _fail(f"plugin {NAME!r} is not installed and enabled")
        context = runtime.host.context(NAME)
        if train:
            outcome = train_model(runtime.engine, context.settings)
            if outcome.model is None:
                console.print(f"no model trained: {outcome.reason}")
            else:
                console.print(
                    f"model {outcome.model.id} trained on {outcome.history} won or lost leads "
                    f"({outcome.conversions} won); {outcome.predicted} leads predicted"
                )
        job = scorer(context)
        if lead:
            for result in job.score_ids(lead):
                console.print(f"{result.lead_id}: {result.result.total} ({result.result.grade})")
        if every:
            with _progress() as progress:
                task = progress.add_task(
                    "rescored", total=count_records(runtime.engine, kind_by_type("lead"))
                )
                outcome_all = job.rescore_all(progress=lambda n: progress.advance(task, n))
            console.print(
                f"rescored {outcome_all.leads} leads: {outcome_all.changed} changed, "
                f"{outcome_all.written} written back, {outcome_all.events} threshold events"
            )


def main() -> None:
    """Entry point of the ``crm-sync`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

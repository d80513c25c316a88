"""``crm-sync queues`` and ``crm-sync dead``: the console's figures and actions in a terminal.

Actions here are audited like the console's (channel ``cli``, the login and host of the
person running the command). Acting on a filter counts first, asks for confirmation
(``--yes`` answers it), then runs the job in the foreground with a progress bar.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.admin import actions, jobs
from core.admin.audit import Actor, entries
from core.admin.deliveries import delivery_summary, search_deliveries
from core.admin.filters import DeliveryFilter, FilterError
from core.cli_startup import _current_schema, _settings
from core.cli_startup import _runtime as _runtime_of

queues_app = typer.Typer(
    help="Queues per plugin; pause and resume a plugin's sending.", invoke_without_command=True
)
dead_app = typer.Typer(help="The dead list: deliveries that failed for good.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit of actions on the queues.", invoke_without_command=True)
console = Console()
errors = Console(stderr=True)

PluginOpt = Annotated[str | None, typer.Option("--plugin", help="only this plugin")]
KindOpt = Annotated[
    str | None, typer.Option("--kind", help="only this kind: customers (or customer), leads...")
]
IdOpt = Annotated[str | None, typer.Option("--id", help="only this record id")]
ErrorOpt = Annotated[str | None, typer.Option("--error", help="error text contains this")]
ClassOpt = Annotated[
    str | None, typer.Option("--class", help="error class: http-422, timeout, mapping...")
]
SinceOpt = Annotated[str | None, typer.Option("--since", help="died at or after (ISO or Jalali)")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="died at or before")]
ContentOpt = Annotated[str | None, typer.Option("--content", help="the record contains this")]
ListOpt = Annotated[str, typer.Option("--list", help="dead, retry, pending, synced...")]
AllOpt = Annotated[bool, typer.Option("--all", help="every dead delivery (no other filter)")]
YesOpt = Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="why (kept in the audit)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _runtime() -> Any:
    settings = _settings()
    runtime = _runtime_of(settings)
    try:
        _current_schema(runtime.engine, settings)
    except BaseException:
        runtime.close()
        raise
    return runtime


def known_plugin(runtime: Any, plugin: str | None) -> str | None:
    """``plugin`` if it is installed or the database holds work of it; else exit 2 naming the valid.

    A typo would otherwise match nothing and the command would report "0 dead" or
    "retrying 0 deliveries" as if all were well. A plugin uninstalled since still has
    its deliveries and inbound events in the database, and may be named to act on them.
    """
    if plugin is None:
        return None
    installed = sorted(info.name for info in runtime.host.installed())
    if plugin in installed or has_stored_work(runtime.engine, plugin):
        return plugin
    raise _fail(f"unknown plugin {plugin!r}; installed: {', '.join(installed) or 'none'}")


def has_stored_work(engine: Any, plugin: str) -> bool:
    """Whether the database holds deliveries or inbound events of ``plugin`` (two index probes)."""
    from sqlalchemy import exists, or_, select

    from core.db.engine import reading
    from core.db.inbound_tables import InboxEvent
    from core.db.sync_tables import SyncState

    query = select(
        or_(
            exists().where(SyncState.plugin == plugin),
            exists().where(InboxEvent.plugin == plugin),
        )
    )
    with reading(engine) as connection:
        return bool(connection.scalar(query))


def _zone(runtime: Any) -> ZoneInfo:
    return ZoneInfo(runtime.settings.console.time_zone)


def _filter(runtime: Any, values: dict[str, str | None]) -> DeliveryFilter:
    try:
        return DeliveryFilter.parse({k: v for k, v in values.items() if v}, _zone(runtime))
    except FilterError as error:
        raise _fail(f"bad filter: {error}") from None


@queues_app.callback()
def queues(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Per plugin: items by state, lag, the last hour's throughput and failures, pause."""
    if ctx.invoked_subcommand is not None:
        return
    from core.admin.overview import HealthCache, overview

    runtime = _runtime()
    try:
        plugins = overview(runtime.engine, runtime.host, HealthCache(0))
    finally:
        runtime.close()
    if as_json:
        rows = [
            {
                "plugin": p.plugin,
                "status": p.status,
                "paused": asdict(p.pause) if p.pause else None,
                "outbound": {**asdict(p.outbound), "depth": p.outbound.depth},
                "inbound": {**asdict(p.inbound), "depth": p.inbound.depth},
            }
            for p in plugins
        ]
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("plugin", "sending", "states", "lag s", "done/h", "failed/h", "inbound")
    for p in plugins:
        states = ", ".join(f"{s} {n}" for s, n in p.outbound.ordered_states()) or "-"
        inbound = ", ".join(f"{s} {n}" for s, n in p.inbound.ordered_states()) or "-"
        sending = f"paused by {p.pause.paused_by}: {p.pause.reason}" if p.pause else "running"
        table.add_row(
            p.plugin,
            escape(sending),
            states,
            f"{p.outbound.lag_seconds:.0f}",
            str(p.outbound.done),
            str(p.outbound.failures),
            inbound,
        )
    console.print(table)


@queues_app.command("pause")
def queues_pause(
    plugin: Annotated[str, typer.Argument(help="the plugin to pause")],
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit)")],
) -> None:
    """Pause a plugin's sending on every worker (held in the database)."""
    runtime = _runtime()
    try:
        known_plugin(runtime, plugin)
        paused = actions.pause(runtime.engine, plugin, Actor.command_line(), reason=reason)
    finally:
        runtime.close()
    console.print(f"{plugin} paused" if paused else f"{plugin} was already paused")


@queues_app.command("resume")
def queues_resume(
    plugin: Annotated[str, typer.Argument(help="the plugin to resume")], reason: ReasonOpt = None
) -> None:
    """Resume a plugin's sending; its due deliveries are swept at once."""
    runtime = _runtime()
    try:
        known_plugin(runtime, plugin)
        resumed = actions.resume(runtime.engine, plugin, Actor.command_line(), reason=reason)
    finally:
        runtime.close()
    console.print(f"{plugin} resumed" if resumed else f"{plugin} was not paused")


@dead_app.command("list")
def dead_list(
    plugin: PluginOpt = None,
    kind: KindOpt = None,
    record_id: IdOpt = None,
    error: ErrorOpt = None,
    klass: ClassOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    content: ContentOpt = None,
    listed: ListOpt = "dead",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Show dead (or retrying...) deliveries, grouped by error class, with the reason."""
    runtime = _runtime()
    try:
        criteria = _filter(
            runtime,
            {
                "list": listed,
                "plugin": known_plugin(runtime, plugin),
                "kind": kind,
                "record_id": record_id,
                "error": error,
                "error_class": klass,
                "since": since,
                "until": until,
                "content": content,
            },
        )
        page = search_deliveries(runtime.engine, criteria, after=None, limit=limit)
        summary = delivery_summary(runtime.engine, criteria)
        total, groups = summary.total, summary.groups
    finally:
        runtime.close()
    if as_json:
        console.print_json(json.dumps([asdict(row) for row in page.rows], default=str))
        return
    for group in groups:
        sample = f": {group.sample}" if group.sample else ""
        console.print(f"{group.count} {criteria.list}: {group.error_class}{escape(sample)}")
    table = Table("plugin", "kind", "id", "version", "attempts", "when", "class", "reason")
    for row in page.rows:
        table.add_row(
            row.plugin,
            row.kind,
            escape(row.record_id),
            str(row.wanted_version),
            str(row.attempts),
            str(row.due_at),
            row.error_class or "-",
            escape(row.last_error or "-"),
        )
    console.print(table)
    console.print(f"{total} {criteria.list}")


def _act(
    action: str,
    values: dict[str, str | None],
    every: bool,
    yes: bool,
    reason: str | None,
) -> None:
    """Count, confirm, run: the filter-wide action of ``dead retry|purge|resolve``."""
    if not every and not any(values.values()):
        raise _fail("name a filter (--plugin, --kind, --id, --error, --class...) or pass --all")
    runtime = _runtime()
    try:
        known_plugin(runtime, values.get("plugin"))
        criteria = _filter(runtime, {"list": "dead", **values})
        actor = Actor.command_line()
        job = jobs.count_job(runtime.engine, action, criteria, actor)
        console.print(f"{job.total} dead deliveries match {criteria.to_dict()}")
        if job.total == 0:
            jobs.cancel_job(runtime.engine, job.id, actor)
            return
        if not yes and not typer.confirm(f"{action} these {job.total}?", default=False):
            jobs.cancel_job(runtime.engine, job.id, actor)
            console.print("nothing changed")
            return
        jobs.confirm_job(runtime.engine, job.id, actor, reason=reason)
        dispatch = jobs.Dispatchers(
            None if runtime.settings.embedded else runtime.dispatch,
            None if runtime.settings.embedded else runtime.dispatch_inbound,
        )
        columns = (TextColumn(action), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(action, total=job.total)
            done = jobs.run_job(
                runtime.engine,
                job.id,
                dispatch,
                progress=lambda current: progress.update(task, completed=current.processed),
            )
    finally:
        runtime.close()
    console.print(f"{action}: {done.acted} changed, {done.skipped} skipped (changed since count)")


@dead_app.command("retry")
def dead_retry(
    plugin: PluginOpt = None, kind: KindOpt = None, record_id: IdOpt = None,
    error: ErrorOpt = None, klass: ClassOpt = None, since: SinceOpt = None,
    until: UntilOpt = None, content: ContentOpt = None, every: AllOpt = False,
    yes: YesOpt = False, reason: ReasonOpt = None,
) -> None:  # fmt: skip
    """Queue dead deliveries again (after fixing the record or the target)."""
    values = {"plugin": plugin, "kind": kind, "record_id": record_id, "error": error,
              "error_class": klass, "since": since, "until": until, "content": content}  # fmt: skip
    _act(actions.RETRY, values, every, yes, reason)


@dead_app.command("purge")
def dead_purge(
    plugin: PluginOpt = None, kind: KindOpt = None, record_id: IdOpt = None,
    error: ErrorOpt = None, klass: ClassOpt = None, since: SinceOpt = None,
    until: UntilOpt = None, content: ContentOpt = None, every: AllOpt = False,
    yes: YesOpt = False, reason: ReasonOpt = None,
) -> None:  # fmt: skip
    """Give dead deliveries up; the record's next change queues it again."""
    values = {"plugin": plugin, "kind": kind, "record_id": record_id, "error": error,
              "error_class": klass, "since": since, "until": until, "content": content}  # fmt: skip
    _act(actions.PURGE, values, every, yes, reason)


@dead_app.command("resolve")
def dead_resolve(
    plugin: PluginOpt = None, kind: KindOpt = None, record_id: IdOpt = None,
    error: ErrorOpt = None, klass: ClassOpt = None, since: SinceOpt = None,
    until: UntilOpt = None, content: ContentOpt = None, every: AllOpt = False,
    yes: YesOpt = False, reason: ReasonOpt = None,
) -> None:  # fmt: skip
    """Mark dead deliveries settled by hand; the record's next change queues it again."""
    values = {"plugin": plugin, "kind": kind, "record_id": record_id, "error": error,
              "error_class": klass, "since": since, "until": until, "content": content}  # fmt: skip
    _act(actions.RESOLVE, values, every, yes, reason)


@audit_app.callback()
def audit(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50, as_json: JsonOpt = False
) -> None:
    """Show the newest audit entries: who did what, when, from where, on how many rows."""
    runtime = _runtime()
    try:
        rows = entries(runtime.engine, limit=limit)
    finally:
        runtime.close()
    if as_json:
        console.print_json(json.dumps([asdict(row) for row in rows], default=str))
        return
    table = Table("when", "who", "from", "what", "on", "rows", "why")
    for row in rows:
        on = row.target or (json.dumps(row.filter, ensure_ascii=False) if row.filter else "-")
        table.add_row(
            str(row.at), escape(row.actor), f"{row.channel} {escape(row.source)}", row.action,
            escape(on[:120]), "-" if row.rows is None else str(row.rows), escape(row.reason or ""),
        )  # fmt: skip
    console.print(table)

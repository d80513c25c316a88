"""Acting on everything a filter matches: count, confirm, then a background job with progress.

Counting fixes the rows: :func:`count_job` copies the key and ``due_at`` of every
matching row into ``admin_job_items`` in one INSERT ... SELECT, so the count shown is
exactly what the job will look at, and a row that enters the filter afterwards is
never touched. Confirming starts the job; :func:`run_chunk` then acts on the next
items whose row is still exactly as counted (same state, same ``due_at``, not leased)
and moves the job's progress forward with a compare-and-set in the same transaction,
so two runners (the console's and a CLI's) never act on one chunk twice. A resync is a
job too, paging through the records instead of items.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)

from core.admin.actions import (
    DELIVERY_FROM,
    INBOX_FROM,
    RESYNC,
    RETRY,
    Dispatch,
    delivery_values,
    dispatch_refs,
    inbox_values,
    unleased,
)
from core.admin.audit import Actor, record
from core.admin.filters import DeliveryFilter, InboxFilter
from core.db.admin_tables import AdminJob, AdminJobItem
from core.db.engine import reading
from core.db.inbound_tables import InboxEvent
from core.db.sync_tables import SyncState
from core.db.types import utcnow
from core.kinds import kind_by_type
from core.store import count_records
from core.sync.admin import outstanding, record_table, resync_page
from core.sync.statistics import analyze, grew_fourfold, refresh_stale_statistics

log = logging.getLogger(__name__)

COUNTED = "counted"
RUNNING = "running"
DONE = "done"
CANCELLED = "cancelled"
FAILED = "failed"
EXPIRED = "expired"
DELIVERIES = "deliveries"
INBOX = "inbox"
#: Items one chunk acts on: large enough to be quick, small enough to show progress.
CHUNK = 2000


class JobError(ValueError):
    """A job cannot do what was asked (confirm twice, cancel a finished job...)."""


@dataclass(frozen=True)
class Job:
    """A bulk job as the console and the API show it."""

    id: int
    action: str
    target: str
    filter: dict[str, Any]
    state: str
    total: int
    processed: int
    acted: int
    skipped: int
    cursor: str | None
    created_by: str
    created_at: datetime
    confirmed_at: datetime | None
    finished_at: datetime | None
    reason: str | None
    error: str | None

    @property
    def progress(self) -> float:
        """How far the job is, from 0 to 1."""
        return 1.0 if self.total == 0 else min(1.0, self.processed / self.total)

    @property
    def finished(self) -> bool:
        """Whether the job will do nothing more."""
        return self.state in (DONE, CANCELLED, FAILED, EXPIRED)


def get_job(source: Engine | Connection, job_id: int) -> Job | None:
    """One job, or None."""
    with reading(source) as connection:
        row = connection.execute(select(AdminJob.__table__).where(AdminJob.id == job_id)).first()
    return Job(**row._mapping) if row is not None else None


def list_jobs(engine: Engine, *, limit: int = 20) -> list[Job]:
    """The newest jobs."""
    statement = select(AdminJob.__table__).order_by(AdminJob.id.desc()).limit(limit)
    with reading(engine) as connection:
        return [Job(**row._mapping) for row in connection.execute(statement)]


def count_job(
    engine: Engine, action: str, criteria: DeliveryFilter | InboxFilter, actor: Actor
) -> Job:
    """Count what ``criteria`` matches for ``action`` and fix those rows; the job waits."""
    target = DELIVERIES if isinstance(criteria, DeliveryFilter) else INBOX
    allowed = (DELIVERY_FROM if target == DELIVERIES else INBOX_FROM).get(action)
    if allowed is None:
        raise JobError(f"{action} is not an action on {target}")
    now = utcnow()
    dialect = engine.dialect.name
    with engine.begin() as connection:
        job_id = int(
            connection.execute(
                insert(AdminJob)
                .values(
                    action=action,
                    target=target,
                    filter=criteria.to_dict(),
                    state=COUNTED,
                    total=0,
                    processed=0,
                    acted=0,
                    skipped=0,
                    created_by=actor.name,
                    created_at=now,
                )
                .returning(AdminJob.id)
            ).scalar_one()
        )
        if isinstance(criteria, DeliveryFilter):
            key = (SyncState.plugin, SyncState.kind, SyncState.record_id)
            rows = select(
                literal(job_id),
                func.row_number().over(order_by=key),
                *key,
                SyncState.due_at,
            ).where(criteria.condition(dialect), SyncState.state.in_(allowed))
        else:
            rows = select(
                literal(job_id),
                func.row_number().over(order_by=InboxEvent.id),
                InboxEvent.plugin,
                InboxEvent.type,
                cast(InboxEvent.id, String),
                InboxEvent.due_at,
            ).where(criteria.condition(dialect), InboxEvent.state.in_(allowed))
        columns = ["job_id", "seq", "plugin", "kind", "record_id", "stamp"]
        connection.execute(insert(AdminJobItem).from_select(columns, rows))
        total = connection.execute(
            select(func.count()).where(AdminJobItem.job_id == job_id)
        ).scalar_one()
        connection.execute(update(AdminJob).where(AdminJob.id == job_id).values(total=total))
    job = get_job(engine, job_id)
    assert job is not None
    return job


def confirm_job(engine: Engine, job_id: int, actor: Actor, *, reason: str | None) -> Job:
    """Start a counted job, audited with its filter and count; JobError if it is not counted."""
    now = utcnow()
    with engine.begin() as connection:
        changed = connection.execute(
            update(AdminJob)
            .where(AdminJob.id == job_id, AdminJob.state == COUNTED)
            .values(state=RUNNING, confirmed_at=now, reason=reason)
            .returning(AdminJob.action, AdminJob.target, AdminJob.filter, AdminJob.total)
        ).first()
        if changed is None:
            raise JobError(f"job {job_id} is not waiting for confirmation")
        action = f"inbox.{changed.action}" if changed.target == INBOX else changed.action
        record(
            connection,
            actor,
            action,
            filter=changed.filter,
            rows=int(changed.total),
            reason=reason,
            job_id=job_id,
            detail=f"job {job_id} started on {changed.total} counted rows",
            now=now,
        )
    job = get_job(engine, job_id)
    assert job is not None
    return job


def cancel_job(engine: Engine, job_id: int, actor: Actor) -> Job:
    """Stop a job that has not finished; what it did stays done. JobError if finished."""
    now = utcnow()
    with engine.begin() as connection:
        changed = connection.execute(
            update(AdminJob)
            .where(AdminJob.id == job_id, AdminJob.state.in_((COUNTED, RUNNING)))
            .values(state=CANCELLED, finished_at=now)
            .returning(AdminJob.state, AdminJob.processed, AdminJob.acted)
        ).first()
        if changed is None:
            raise JobError(f"job {job_id} has already finished")
        record(
            connection,
            actor,
            "job.cancel",
            rows=int(changed.acted),
            job_id=job_id,
            detail=f"job {job_id} cancelled after {changed.processed} rows",
            now=now,
        )
        connection.execute(delete_items(job_id))
    job = get_job(engine, job_id)
    assert job is not None
    return job


def delete_items(job_id: int) -> Any:
    """The statement that drops a job's counted rows."""
    return delete(AdminJobItem).where(AdminJobItem.job_id == job_id)


def start_resync(
    engine: Engine, plugin: str, kinds: Sequence[str], actor: Actor, *, reason: str | None
) -> Job:
    """Start a resync job of ``plugin`` for ``kinds``, audited; it runs at once."""
    now = utcnow()
    total = sum(count_records(engine, kind_by_type(kind)) for kind in kinds)
    cursor = json.dumps({"kinds": list(kinds), "index": 0, "after": None})
    with engine.begin() as connection:
        job_id = int(
            connection.execute(
                insert(AdminJob)
                .values(
                    action=RESYNC,
                    target=plugin,
                    filter={"plugin": plugin, "kinds": ",".join(kinds)},
                    state=RUNNING,
                    total=total,
                    processed=0,
                    acted=0,
                    skipped=0,
                    cursor=cursor,
                    created_by=actor.name,
                    created_at=now,
                    confirmed_at=now,
                    reason=reason,
                )
                .returning(AdminJob.id)
            ).scalar_one()
        )
        record(
            connection,
            actor,
            RESYNC,
            target=plugin,
            filter={"kinds": ",".join(kinds)},
            rows=total,
            reason=reason,
            job_id=job_id,
            now=now,
        )
    job = get_job(engine, job_id)
    assert job is not None
    return job


@dataclass(frozen=True)
class Dispatchers:
    """How a runner enqueues what a job made due: deliveries and inbound events, per plugin.

    With None the rows are left for the sweeper (a process without the broker).
    """

    deliveries: Dispatch | None = None
    inbox: Dispatch | None = None


def run_chunk(engine: Engine, job_id: int, dispatch: Dispatchers, *, chunk: int = CHUNK) -> Job:
    """Act on the job's next ``chunk`` items (or resync page); return the job afterwards."""
    job = get_job(engine, job_id)
    if job is None:
        raise JobError(f"no job {job_id}")
    if job.state != RUNNING:
        return job
    if job.action == RESYNC:
        _resync_chunk(engine, job, dispatch, chunk)
    else:
        _items_chunk(engine, job, dispatch, chunk)
    done = get_job(engine, job_id)
    assert done is not None
    return done


def _items_chunk(engine: Engine, job: Job, dispatch: Dispatchers, chunk: int) -> None:
    low, high = job.processed, min(job.total, job.processed + chunk)
    now = utcnow()
    items = select(
        AdminJobItem.plugin, AdminJobItem.kind, AdminJobItem.record_id, AdminJobItem.stamp
    ).where(AdminJobItem.job_id == job.id, AdminJobItem.seq > low, AdminJobItem.seq <= high)
    sender = dispatch.deliveries if job.target == DELIVERIES else dispatch.inbox
    enqueued = now if sender is not None and job.action == RETRY else None
    with engine.begin() as connection:
        if not _advance(connection, job, high):
            return
        if job.target == DELIVERIES:
            criteria: DeliveryFilter | InboxFilter = DeliveryFilter.from_dict(job.filter)
            assert isinstance(criteria, DeliveryFilter)
            states = [s for s in DELIVERY_FROM[job.action] if s in criteria.states]
            # UPDATE ... FROM the chunk's items: each row is found by its primary key
            # (an IN over a row-value subquery made PostgreSQL scan the table per chunk).
            chunk_items = items.subquery("items")
            statement: Any = (
                update(SyncState)
                .where(
                    SyncState.plugin == chunk_items.c.plugin,
                    SyncState.kind == chunk_items.c.kind,
                    SyncState.record_id == chunk_items.c.record_id,
                    SyncState.due_at == chunk_items.c.stamp,
                    SyncState.state.in_(states),
                    unleased(SyncState, now),
                )
                .values(**delivery_values(job.action, now, enqueued))
                .returning(SyncState.plugin, SyncState.kind, SyncState.record_id)
            )
        else:
            criteria = InboxFilter.from_dict(job.filter)
            allowed = INBOX_FROM[job.action]
            states = [s for s in allowed if not criteria.state or s == criteria.state]
            by_id = select(cast(AdminJobItem.record_id, Integer), AdminJobItem.stamp).where(
                AdminJobItem.job_id == job.id, AdminJobItem.seq > low, AdminJobItem.seq <= high
            )
            statement = (
                update(InboxEvent)
                .where(
                    tuple_(InboxEvent.id, InboxEvent.due_at).in_(by_id),
                    InboxEvent.state.in_(states),
                    unleased(InboxEvent, now),
                )
                .values(**inbox_values(job.action, now, enqueued))
                .returning(InboxEvent.plugin, InboxEvent.id)
            )
        changed = connection.execute(statement).all()
        acted = len(changed)
        skipped = (high - low) - acted
        finished = high >= job.total
        values: dict[str, Any] = {
            "acted": AdminJob.acted + acted,
            "skipped": AdminJob.skipped + skipped,
        }
        if finished:
            values.update(state=DONE, finished_at=now)
        connection.execute(update(AdminJob).where(AdminJob.id == job.id).values(**values))
        if finished:
            _finish(connection, job, job.acted + acted, job.skipped + skipped, now)
            connection.execute(delete_items(job.id))
    if job.action == RETRY and sender is not None:
        if job.target == DELIVERIES:
            dispatch_refs(sender, changed)
        else:
            by_plugin: dict[str, list[int]] = defaultdict(list)
            for row in changed:
                by_plugin[row.plugin].append(int(row.id))
            for plugin, ids in by_plugin.items():
                sender(plugin, ids)


def _advance(connection: Connection, job: Job, processed: int, cursor: str | None = None) -> bool:
    """Move the job's progress from what ``job`` read to ``processed``; False if moved already.

    The row lock this takes makes a second runner of the same chunk wait, then find the
    progress moved and do nothing.
    """
    values: dict[str, Any] = {"processed": processed}
    if cursor is not None:
        values["cursor"] = cursor
    moved = connection.execute(
        update(AdminJob)
        .where(
            AdminJob.id == job.id, AdminJob.processed == job.processed, AdminJob.state == RUNNING
        )
        .values(**values)
    ).rowcount
    return bool(moved)


def _audit_action(job: Job) -> str:
    """The audit's name of what a job does: ``retry``, ``inbox.purge``, ``resync``..."""
    return f"inbox.{job.action}" if job.target == INBOX else job.action


def _finish(connection: Connection, job: Job, acted: int, skipped: int, now: datetime) -> None:
    if job.action == RESYNC:
        detail = f"job {job.id} finished: {acted} queued"
    else:
        detail = f"job {job.id} finished: {acted} changed, {skipped} skipped (changed since count)"
    record(
        connection,
        Actor(name=job.created_by, role="-", channel="system", source="job"),
        f"{_audit_action(job)}.finished",
        target=job.target if job.action == RESYNC else None,
        rows=acted,
        job_id=job.id,
        detail=detail,
        now=now,
    )


def _resync_chunk(engine: Engine, job: Job, dispatch: Dispatchers, chunk: int) -> None:
    state = json.loads(job.cursor or "{}")
    kinds: list[str] = state.get("kinds", [])
    index: int = state.get("index", 0)
    now = utcnow()
    if index >= len(kinds):
        with engine.begin() as connection:
            if _advance(connection, job, job.total):
                connection.execute(
                    update(AdminJob)
                    .where(AdminJob.id == job.id)
                    .values(state=DONE, finished_at=now)
                )
                _finish(connection, job, job.acted, 0, now)
        analyze(engine)
        return
    kind = kind_by_type(kinds[index])
    if state.get("after") is None:
        # Pages are read by key range, which stale statistics of the records turn into
        # reading the whole table for each page.
        refresh_stale_statistics(engine, [record_table(kind)])
    ids, last = resync_page(
        engine,
        job.target,
        kind,
        state.get("after"),
        chunk=chunk,
        mark_enqueued=dispatch.deliveries is not None,
        now=now,
    )
    following = {"kinds": kinds, "index": index if last is not None else index + 1, "after": last}
    with engine.begin() as connection:
        if not _advance(connection, job, job.processed + len(ids), json.dumps(following)):
            return
        connection.execute(
            update(AdminJob).where(AdminJob.id == job.id).values(acted=AdminJob.acted + len(ids))
        )
    if grew_fourfold(job.acted, job.acted + len(ids)):
        analyze(engine)
    if dispatch.deliveries is not None and ids:
        dispatch.deliveries(job.target, [(kinds[index], record_id) for record_id in ids])


def delivered(engine: Engine, job: Job) -> int | None:
    """For a resync: how many of its deliveries are no longer outstanding (None otherwise)."""
    if job.action != RESYNC:
        return None
    return max(0, job.acted - outstanding(engine, job.target))


def run_job(
    engine: Engine,
    job_id: int,
    dispatch: Dispatchers,
    *,
    progress: Callable[[Job], None] | None = None,
    chunk: int = CHUNK,
) -> Job:
    """Run a job to its end in this thread, reporting progress after each chunk."""
    while True:
        job = run_chunk(engine, job_id, dispatch, chunk=chunk)
        if progress is not None:
            progress(job)
        if job.state != RUNNING:
            return job


class JobRunner(threading.Thread):
    """Runs confirmed jobs in the background of ``serve``, a chunk at a time."""

    def __init__(self, engine: Engine, dispatch: Dispatchers, *, interval: float = 0.5) -> None:
        super().__init__(name="crm-sync-admin-jobs", daemon=True)
        self.engine = engine
        self.dispatch = dispatch
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        """Work on running jobs until stopped; a failing job is marked failed with the error."""
        while not self.stopping.is_set():
            busy = False
            try:
                busy = self.round()
            except Exception:
                log.exception("admin job round failed; trying again")
            if not busy:
                self.stopping.wait(self.interval)

    def round(self, budget: float = 2.0) -> bool:
        """Run chunks of the running jobs for about ``budget`` seconds; True if any ran."""
        with reading(self.engine) as connection:
            running = list(
                connection.execute(
                    select(AdminJob.id).where(AdminJob.state == RUNNING).order_by(AdminJob.id)
                ).scalars()
            )
        started = time.monotonic()
        for job_id in running:
            while not self.stopping.is_set() and time.monotonic() - started < budget:
                try:
                    job = run_chunk(self.engine, job_id, self.dispatch)
                except Exception as error:
                    log.exception("admin job %s failed", job_id)
                    _fail(self.engine, job_id, error)
                    break
                if job.state != RUNNING:
                    break
        return bool(running)

    def stop(self) -> None:
        """Stop after the chunk under way."""
        self.stopping.set()
        self.join(timeout=10)


def _fail(engine: Engine, job_id: int, error: Exception) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(AdminJob)
            .where(AdminJob.id == job_id, AdminJob.state == RUNNING)
            .values(state=FAILED, error=f"{type(error).__name__}: {error}", finished_at=utcnow())
        )

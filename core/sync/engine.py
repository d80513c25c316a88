"""The sync engine: claim deliveries, push the latest version, record the outcome.

Every push goes through three steps. ``claim`` takes a lease on the (plugin, record)
rows in one UPDATE, so no two workers push one record to one target at once, and
counts the attempt before anything can crash. ``push`` loads each record's LATEST
version, skips it when the target already has it, maps it through the plugin and sends
it with its idempotency key. ``finalize`` records success, a scheduled retry or a dead
letter, only if this worker still holds the lease.
"""

# Longer than 600 lines: claim, push and finalize share the prebuilt statements
# (``_Statements``, a third of the file) that keep a push near a bare actor's speed;
# they stay beside the code that binds them.

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)

from core.connectors.http import classify_exception
from core.db.admin_tables import OUT
from core.db.sync_tables import DEAD, FAILED, PENDING, SYNCED, SyncState
from core.db.types import UTCDateTime, utcnow
from core.errors import HoldSending, PermanentError, RateLimited, SyncError, WaitingFor
from core.kinds import kind_by_type
from core.plugin_types import OutboundDocument, PushResult, SyncRecord
from core.plugins import PluginHost
from core.schemas.base import STORED
from core.settings import SyncSettings
from core.sync.attempts import (
    HELD,
    RETRY,
    SKIPPED,
    WAITING,
    attempt_row,
    attempts_json,
    record_attempts,
)
from core.sync.backoff import exhausted, plan_retry
from core.sync.error_class import CONNECTION, error_class
from core.sync.idempotency import idempotency_key
from core.sync.metrics import WORK
from core.sync.pause import BY_PLUGIN, claimable_now, pause_in

log = logging.getLogger(__name__)

#: A reference to one record: (document type, record id).
Ref = tuple[str, str]


@dataclass(frozen=True)
class Claim:
    """A delivery this worker holds the lease on."""

    kind: str
    record_id: str
    wanted_version: int
    synced_version: int | None
    external_id: str | None
    attempts: int
    last_error: str | None


#: How many columns a claim's row starts with (the record's columns may follow).
CLAIM_COLUMNS = 7


@dataclass
class Outcome:
    """What one ``process`` call did, and what the caller must enqueue next.

    ``again`` holds records that changed while they were being pushed (send at once);
    ``retry`` holds records to try again after ``retry_delay`` seconds; ``unreachable``
    says a push could not connect to the target (error class ``connection``).
    """

    pushed: int = 0
    dead: int = 0
    failed: int = 0
    again: list[Ref] = field(default_factory=list)
    retry: list[Ref] = field(default_factory=list)
    retry_delay: float = 0.0
    unreachable: bool = False


@dataclass
class _Result:
    claim: Claim
    version: int | None = None
    external_id: str | None = None
    note: str | None = None
    error: SyncError | None = None
    #: How long the push that carried this document took; None when nothing was sent.
    duration_ms: float | None = None


class SyncEngine:
    """Pushes the records of one process's messages to their plugins' targets."""

    def __init__(
        self,
        engine: Engine,
        host: PluginHost,
        settings: SyncSettings,
        *,
        log_attempts: bool = True,
    ) -> None:
        self.engine = engine
        self.host = host
        self.settings = settings
        self.log_attempts = log_attempts
        self._statements = _Statements()

    # -- the whole step -------------------------------------------------------

    def process(self, plugin: str, refs: Sequence[Ref], *, now: datetime | None = None) -> Outcome:
        """Claim, push and finalize the deliveries of ``refs`` for ``plugin``.

        Refs whose row is not due, already leased or already synced are skipped: a
        duplicate or early message is harmless. A plugin that accepts batches also takes
        other due deliveries of its queue, so a backlog drains in batches.
        """
        now = now or utcnow()
        owner = uuid.uuid4().hex[:16]
        max_batch = self.host.description(plugin).max_batch
        claims, rows = self._claim(plugin, refs, owner, now, max_batch)
        outcome = Outcome()
        if not claims:
            return outcome
        results = self._push(plugin, claims, rows)
        self._finalize(plugin, owner, results, outcome, now)
        return outcome

    # -- claim ------------------------------------------------------------------

    def _claim(
        self, plugin: str, refs: Sequence[Ref], owner: str, now: datetime, max_batch: int
    ) -> tuple[list[Claim], dict[Ref, Any]]:
        """Lease the due rows among ``refs`` (and, for batches, other due rows); load records.

        Both happen in one transaction so a single message costs one round of statements.
        """
        params = {
            "p_plugin": plugin,
            "now": now,
            "owner": owner,
            "until": now + timedelta(seconds=self.settings.lease_seconds),
        }
        statements = self._statements
        with self.engine.begin() as connection:
            claims: list[Claim] = []
            rows: dict[Ref, Any] = {}
            if connection.dialect.name == "postgresql":
                for kind, ids in _by_kind(refs).items():
                    statement = statements.claim_and_load(kind)
                    result = connection.execute(statement, {**params, "kind": kind, "rs": ids})
                    for row in result:
                        claims.append(Claim(*row[:CLAIM_COLUMNS]))
                        if row.id is not None:
                            rows[(kind, row.id)] = row
            elif refs:
                keys = [tuple(ref) for ref in refs]
                result = connection.execute(statements.claim_refs, {**params, "refs": keys})
                claims = [Claim(*row) for row in result]
                rows = self._load(connection, claims) if claims else {}
            room = max_batch - len(claims)
            if max_batch > 1 and room > 0:
                due: Any = statements.claim_due
                if connection.dialect.name == "postgresql":
                    due = statements.claim_due_many
                taken = [Claim(*row) for row in connection.execute(due, {**params, "room": room})]
                if taken:
                    claims.extend(taken)
                    rows.update(self._load(connection, taken))
        return claims, rows

    # -- push ---------------------------------------------------------------------

    def _load(self, connection: Connection, claims: Iterable[Claim]) -> dict[Ref, Any]:
        by_kind: dict[str, list[str]] = defaultdict(list)
        for claim in claims:
            by_kind[claim.kind].append(claim.record_id)
        rows: dict[Ref, Any] = {}
        for kind_type, ids in by_kind.items():
            statement = self._statements.load(kind_type)
            for row in connection.execute(statement, {"ids": ids}):
                rows[(kind_type, row.id)] = row
        return rows

    def _push(self, plugin: str, claims: list[Claim], rows: dict[Ref, Any]) -> list[_Result]:
        results: list[_Result] = []
        documents: list[tuple[_Result, OutboundDocument]] = []
        for claim in claims:
            result = _Result(claim)
            results.append(result)
            given_up = exhausted(claim.attempts, self.settings, claim.last_error)
            if given_up is not None:
                result.error = given_up
                continue
            row = rows.get((claim.kind, claim.record_id))
            if row is None:
                result.error = PermanentError(f"{claim.kind} {claim.record_id!r} does not exist")
                continue
            result.version = row.version
            if claim.synced_version is not None and claim.synced_version >= row.version:
                continue
            try:
                document = self._document(plugin, claim, row)
            except Exception as error:
                result.error = _mapping_error(error)
                continue
            documents.append((result, document))
        self._send(plugin, documents)
        return results

    def _document(self, plugin: str, claim: Claim, row: Any) -> OutboundDocument:
        kind = kind_by_type(claim.kind)
        record = SyncRecord(
            type=claim.kind,
            id=claim.record_id,
            version=row.version,
            data=kind.schema.model_validate(row.data, context=STORED),
            updated_at=row.updated_at,
            external_id=claim.external_id,
            created_at=row.created_at,
        )
        payload = self.host.map_record(plugin, record)
        return OutboundDocument(
            type=claim.kind,
            id=claim.record_id,
            version=row.version,
            occurred_at=row.updated_at,
            idempotency_key=idempotency_key(plugin, claim.kind, claim.record_id, row.version),
            payload=payload,
            external_id=claim.external_id,
        )

    def _send(self, plugin: str, documents: list[tuple[_Result, OutboundDocument]]) -> None:
        size = max(1, self.host.description(plugin).max_batch)
        held: HoldSending | None = None
        for start in range(0, len(documents), size):
            chunk = documents[start : start + size]
            if held is not None:
                for result, _ in chunk:
                    result.error = held
                continue
            started = time.perf_counter()
            try:
                answers = self.host.push(plugin, [document for _, document in chunk])
            except Exception as error:
                failure = classify_exception(error)
                answers = [PushResult(error=failure)] * len(chunk)
            took = (time.perf_counter() - started) * 1000
            WORK.push_took(plugin, took / 1000)
            for (result, _), answer in zip(chunk, answers, strict=True):
                result.duration_ms = took
                if answer.error is not None:
                    result.error = classify_exception(answer.error)
                    if isinstance(result.error, HoldSending):
                        held = result.error
                else:
                    result.external_id = answer.external_id
                    result.note = answer.note

    # -- finalize -------------------------------------------------------------------

    def _finalize(
        self,
        plugin: str,
        owner: str,
        results: list[_Result],
        outcome: Outcome,
        started: datetime | None = None,
    ) -> None:
        now = utcnow()
        started = started or now
        done, retry, dead, held, waiting, limited = [], [], [], [], [], []
        delays = []
        attempts: list[dict[str, Any]] = []
        for result in results:
            claim = result.claim
            params: dict[str, Any] = {
                "p_plugin": plugin,
                "owner": owner,
                "k": claim.kind,
                "r": claim.record_id,
                "now": now,
            }
            error = result.error
            if error is None:
                params.update(v=result.version, ext=result.external_id, p_note=result.note)
                done.append(params)
                sent = result.duration_ms is not None
                self._log(attempts, plugin, result, started, now, SYNCED if sent else SKIPPED)
                continue
            params.update(cls=error_class(error))
            if isinstance(error, HoldSending):
                params.update(err=f"held: {error}")
                held.append(params)
                self._log(attempts, plugin, result, started, now, HELD, params)
                continue
            if isinstance(error, WaitingFor | RateLimited):
                if isinstance(error, RateLimited):
                    wait = error.seconds
                    params.update(err=f"waiting: {error}")
                    limited.append(params)
                else:
                    wait = self.settings.wait_seconds
                    params.update(err=str(error))
                    waiting.append(params)
                delays.append(wait)
                params.update(due=now + timedelta(seconds=wait))
                self._log(attempts, plugin, result, started, now, WAITING, params)
                continue
            plan = plan_retry(error, claim.attempts, self.settings)
            if plan.delay is not None:
                delays.append(plan.delay)
                params.update(err=plan.message, due=now + timedelta(seconds=plan.delay))
                retry.append(params)
                self._log(attempts, plugin, result, started, now, RETRY, params)
            else:
                params.update(err=plan.message)
                dead.append(params)
                self._log(attempts, plugin, result, started, now, DEAD, params)
                log.warning(
                    "%s %s %s is dead: %s", plugin, claim.kind, claim.record_id, plan.message
                )
        statements = self._statements
        with self.engine.begin() as connection:
            if done:
                again, attempts = self._record_success(connection, plugin, done, attempts)
                outcome.again.extend(again)
            if retry:
                connection.execute(statements.retry, retry)
            if dead:
                connection.execute(statements.dead, dead)
            if waiting:
                connection.execute(statements.wait, waiting)
            if limited:
                connection.execute(statements.rate_limited, limited)
            if held:
                connection.execute(statements.hold, held)
                reason = str(next(r.error for r in results if isinstance(r.error, HoldSending)))
                if pause_in(connection, plugin, by=BY_PLUGIN, reason=reason, now=now):
                    log.warning("%s paused its sending: %s", plugin, reason)
            record_attempts(connection, attempts)
        outcome.pushed += len(done)
        outcome.failed += len(retry)
        outcome.dead += len(dead)
        outcome.retry = [(p["k"], p["r"]) for p in retry + waiting + limited]
        outcome.retry_delay = max(delays, default=0.0)
        outcome.unreachable = any(p["cls"] == CONNECTION for p in retry + dead)

    def _log(
        self,
        attempts: list[dict[str, Any]],
        plugin: str,
        result: _Result,
        started: datetime,
        now: datetime,
        outcome: str,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Add one attempt to the job's attempts-log rows (inserted with the outcomes)."""
        WORK.pushed(plugin, outcome)
        if not self.log_attempts:
            return
        claim = result.claim
        answer = None
        if params is None and result.duration_ms is not None:
            answer = "; ".join(
                text
                for text in (
                    f"external id {result.external_id}" if result.external_id else None,
                    result.note,
                )
                if text
            )
        attempts.append(
            attempt_row(
                direction=OUT,
                plugin=plugin,
                kind=claim.kind,
                record_id=claim.record_id,
                version=result.version,
                attempt=claim.attempts,
                started_at=started,
                finished_at=now,
                duration_ms=result.duration_ms,
                outcome=outcome,
                error_class=params["cls"] if params else None,
                error=params["err"] if params else None,
                answer=answer or None,
            )
        )

    def _record_success(
        self,
        connection: Connection,
        plugin: str,
        done: list[dict[str, Any]],
        attempts: list[dict[str, Any]],
    ) -> tuple[list[Ref], list[dict[str, Any]]]:
        """Mark pushes done; return the records that got a newer version meanwhile.

        On PostgreSQL the job's attempts-log rows are inserted by the same statement,
        whatever the batch size (one round trip for a single push too); the second
        value is the attempts still to insert.
        """
        statements = self._statements
        if connection.dialect.name == "postgresql":
            first = done[0]
            params = {"now": first["now"], "p_plugin": plugin, "owner": first["owner"]}
            again: list[Ref] = []
            logged = attempts_json(attempts)
            for kind in dict.fromkeys(p["k"] for p in done):
                rows = [p for p in done if p["k"] == kind]
                arrays = {
                    "kind": kind,
                    "rs": [p["r"] for p in rows],
                    "vs": [p["v"] for p in rows],
                    "exts": [p["ext"] for p in rows],
                    "notes": [p["p_note"] for p in rows],
                    "attempts": logged,
                }
                result = connection.execute(statements.success_many, {**params, **arrays})
                again.extend((row.kind, row.record_id) for row in result if row.state == PENDING)
                logged = "[]"
            return again, []
        if len(done) == 1:
            row = connection.execute(statements.success_returning, done[0]).first()
            moved_on = row is not None and row.state == PENDING
            return ([(done[0]["k"], done[0]["r"])] if moved_on else []), attempts
        connection.execute(statements.success, done)
        refs: list[Ref] = [(p["k"], p["r"]) for p in done]
        pending = connection.execute(statements.pending, {"p_plugin": plugin, "refs": refs})
        return [(row.kind, row.record_id) for row in pending], attempts


class _Statements:
    """The engine's SQL, built once with bind parameters and reused for every message.

    Building SQLAlchemy statements costs more CPU than running them on a fast database,
    so the hot path only binds values.
    """

    def __init__(self) -> None:
        now = bindparam("now", type_=UTCDateTime)
        claimable = and_(
            SyncState.plugin == bindparam("p_plugin"),
            SyncState.state.in_((PENDING, FAILED)),
            SyncState.due_at <= now,
            or_(SyncState.lease_until.is_(None), SyncState.lease_until < now),
            claimable_now(),
        )
        lease = {
            "lease_owner": bindparam("owner"),
            "lease_until": bindparam("until", type_=UTCDateTime),
            "attempts": SyncState.attempts + 1,
            "last_attempt_at": now,
            "updated_at": now,
        }
        returning = (
            SyncState.kind,
            SyncState.record_id,
            SyncState.wanted_version,
            SyncState.synced_version,
            SyncState.external_id,
            SyncState.attempts,
            SyncState.last_error,
        )
        key = tuple_(SyncState.kind, SyncState.record_id)
        refs: BindParameter[Any] = bindparam("refs", expanding=True)
        # SQLite's claim of a message's refs (PostgreSQL's is ``claim_and_load``).
        self.claim_refs = (
            update(SyncState).where(claimable, key.in_(refs)).values(**lease).returning(*returning)
        )
        # A materialised CTE: as a plain IN (subquery) PostgreSQL may run the subquery
        # again for each row, and with SKIP LOCKED every run finds other rows, so far
        # more than ``room`` rows would be claimed by one job.
        due = (
            select(SyncState.kind, SyncState.record_id)
            .where(claimable)
            .order_by(SyncState.due_at)
            .limit(bindparam("room"))
            .with_for_update(skip_locked=True)
            .cte("due")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        self.claim_due = (
            update(SyncState)
            .where(
                SyncState.plugin == bindparam("p_plugin"),
                SyncState.kind == due.c.kind,
                SyncState.record_id == due.c.record_id,
            )
            .values(**lease)
            .returning(*returning)
        )

        mine = and_(
            SyncState.plugin == bindparam("p_plugin"),
            SyncState.kind == bindparam("k"),
            SyncState.record_id == bindparam("r"),
            SyncState.lease_owner == bindparam("owner"),
        )
        released = {"lease_owner": None, "lease_until": None, "updated_at": now}
        version: BindParameter[int] = bindparam("v", type_=Integer)
        behind = or_(SyncState.synced_version.is_(None), SyncState.synced_version < version)
        # Still pending only if the wanted version is newer than both what was pushed and
        # what the target was bound to meanwhile (a plugin that wrote its answer back).
        ahead = or_(
            SyncState.synced_version.is_(None), SyncState.wanted_version > SyncState.synced_version
        )
        self.success = (
            update(SyncState)
            .where(mine)
            .values(
                synced_version=case((behind, version), else_=SyncState.synced_version),
                external_id=func.coalesce(bindparam("ext"), SyncState.external_id),
                note=bindparam("p_note"),
                error_class=None,
                state=case(
                    (and_(SyncState.wanted_version > version, ahead), PENDING), else_=SYNCED
                ),
                attempts=0,
                last_error=None,
                due_at=now,
                enqueued_at=now,
                **released,
            )
        )
        self.success_returning = self.success.returning(SyncState.state)
        due_at = bindparam("due", type_=UTCDateTime)

        def settle(**values: Any) -> Any:
            """Release the lease and keep the error, changing ``values`` besides."""
            return (
                update(SyncState)
                .where(mine)
                .values(
                    last_error=bindparam("err"), error_class=bindparam("cls"), **released, **values
                )
            )

        given_back = SyncState.attempts - 1
        self.retry = settle(state=FAILED, due_at=due_at, enqueued_at=due_at)
        self.dead = settle(state=DEAD, due_at=now)
        # Waiting on another plugin's document is retried later, as a failure is, but
        # gives its attempt back: waiting never makes a delivery dead.
        self.wait = settle(state=FAILED, attempts=given_back, due_at=due_at, enqueued_at=due_at)
        # A held delivery gives its attempt back and stays due; resuming the plugin
        # clears ``enqueued_at`` again, so the sweeper sends it at once.
        self.hold = settle(attempts=given_back, due_at=now)
        # A rate-limited delivery gives its attempt back, keeps its state and is due
        # again when the limit allows.
        self.rate_limited = settle(attempts=given_back, due_at=due_at, enqueued_at=due_at)
        self.pending = select(SyncState.kind, SyncState.record_id).where(
            SyncState.plugin == bindparam("p_plugin"),
            SyncState.state == PENDING,
            SyncState.lease_owner.is_(None),
            key.in_(refs),
        )
        self._loads: dict[str, Any] = {}
        self._claims_and_loads: dict[str, Any] = {}

    #: PostgreSQL's statements for the refs of one kind, a single change or a batch: one
    #: statement whose rows come from arrays, so the SQL text stays the same whatever
    #: the batch size (compiled once), and ``record_id = ANY(...)`` on the whole primary
    #: key makes PostgreSQL look each row up by its key even when its statistics are
    #: stale after a bulk resync. ``claim_many`` runs inside :meth:`claim_and_load`.
    claim_many = text(
        "UPDATE sync_state SET lease_owner = :owner, lease_until = :until,"
        " attempts = sync_state.attempts + 1, last_attempt_at = :now, updated_at = :now"
        " WHERE sync_state.plugin = :p_plugin AND sync_state.kind = :kind"
        " AND sync_state.record_id = ANY(CAST(:rs AS text[]))"
        " AND sync_state.state IN ('pending', 'failed')"
        " AND sync_state.due_at <= :now"
        " AND (sync_state.lease_until IS NULL OR sync_state.lease_until < :now)"
        " AND NOT EXISTS (SELECT 1 FROM plugin_pauses WHERE plugin_pauses.plugin = :p_plugin)"
        " RETURNING sync_state.kind, sync_state.record_id, sync_state.wanted_version,"
        " sync_state.synced_version, sync_state.external_id, sync_state.attempts,"
        " sync_state.last_error"
    )
    # The due rows are found through the (plugin, state, due_at) index, then leased by
    # primary key: ``= ANY(ARRAY(...))`` on (plugin, kind, record_id) is evaluated once
    # and looked up in the key's index. Joining the CTE instead lets PostgreSQL, whose
    # statistics are stale after a bulk resync, loop over every row of the plugin for
    # each due row (190 ms per claim over 1,500 rows).
    claim_due_many = text(
        "WITH due AS MATERIALIZED (SELECT sync_state.kind, sync_state.record_id"
        " FROM sync_state WHERE sync_state.plugin = :p_plugin"
        " AND sync_state.state IN ('pending', 'failed') AND sync_state.due_at <= :now"
        " AND (sync_state.lease_until IS NULL OR sync_state.lease_until < :now)"
        " AND NOT EXISTS (SELECT 1 FROM plugin_pauses WHERE plugin_pauses.plugin = :p_plugin)"
        " ORDER BY sync_state.due_at LIMIT :room FOR UPDATE SKIP LOCKED)"
        " UPDATE sync_state SET lease_owner = :owner, lease_until = :until,"
        " attempts = sync_state.attempts + 1, last_attempt_at = :now, updated_at = :now"
        " WHERE sync_state.plugin = :p_plugin"
        " AND sync_state.kind = ANY(ARRAY(SELECT DISTINCT due.kind FROM due))"
        " AND sync_state.record_id = ANY(ARRAY(SELECT due.record_id FROM due))"
        " AND (sync_state.kind, sync_state.record_id) IN (SELECT due.kind, due.record_id FROM due)"
        " RETURNING sync_state.kind, sync_state.record_id, sync_state.wanted_version,"
        " sync_state.synced_version, sync_state.external_id, sync_state.attempts,"
        " sync_state.last_error"
    )
    # The outcome of each row is looked up by its position in the arrays: joining
    # ``unnest(...)`` instead made PostgreSQL, which expects one row of ours, scan the
    # whole array for every row (a batch of 100 took 27 ms, 8 ms this way). The job's
    # attempts-log rows come in the same statement (a data-modifying CTE runs whether
    # or not the query reads it), so one push costs one round trip as a batch does.
    success_many = text(
        "WITH logged AS (INSERT INTO attempts (direction, plugin, kind, record_id, version,"
        " attempt, started_at, finished_at, duration_ms, outcome, error_class, error, answer)"
        " SELECT direction, plugin, kind, record_id, version, attempt, started_at, finished_at,"
        " duration_ms, outcome, error_class, error, answer"
        " FROM json_populate_recordset(NULL::attempts, CAST(:attempts AS json)))"
        " UPDATE sync_state SET synced_version = CASE WHEN sync_state.synced_version IS NULL"
        " OR sync_state.synced_version < done.vs[array_position(done.rs, sync_state.record_id)]"
        " THEN done.vs[array_position(done.rs, sync_state.record_id)]"
        " ELSE sync_state.synced_version END,"
        " external_id = COALESCE(done.exts[array_position(done.rs, sync_state.record_id)],"
        " sync_state.external_id),"
        " note = done.notes[array_position(done.rs, sync_state.record_id)],"
        " state = CASE WHEN sync_state.wanted_version"
        " > done.vs[array_position(done.rs, sync_state.record_id)]"
        " AND (sync_state.synced_version IS NULL"
        " OR sync_state.wanted_version > sync_state.synced_version)"
        " THEN 'pending' ELSE 'synced' END,"
        " attempts = 0, last_error = NULL, error_class = NULL, due_at = :now, enqueued_at = :now,"
        " lease_owner = NULL, lease_until = NULL, updated_at = :now"
        " FROM (SELECT CAST(:rs AS text[]) AS rs, CAST(:vs AS integer[]) AS vs,"
        " CAST(:exts AS text[]) AS exts, CAST(:notes AS text[]) AS notes) AS done"
        " WHERE sync_state.plugin = :p_plugin AND sync_state.kind = :kind"
        " AND sync_state.record_id = ANY(done.rs) AND sync_state.lease_owner = :owner"
        " RETURNING sync_state.kind, sync_state.record_id, sync_state.state"
    )

    def claim_and_load(self, kind_type: str) -> Any:
        """Lease the due rows of one kind among ``rs`` and read their records, in one statement.

        The claim's columns come first and the record's follow (``id`` is None when the
        record is gone), so a message costs one round trip before its push.
        """
        statement = self._claims_and_loads.get(kind_type)
        if statement is None:
            table = kind_by_type(kind_type).table
            claimed = self.claim_many.columns(
                column("kind", String),
                column("record_id", String),
                column("wanted_version", Integer),
                column("synced_version", Integer),
                column("external_id", String),
                column("attempts", Integer),
                column("last_error", String),
            ).cte("claimed")
            statement = select(
                *claimed.c, table.id, table.version, table.data, table.updated_at, table.created_at
            ).select_from(claimed.outerjoin(table, table.id == claimed.c.record_id))
            self._claims_and_loads[kind_type] = statement
        return statement

    def load(self, kind_type: str) -> Any:
        """The statement that loads records of one kind by ``ids``."""
        statement = self._loads.get(kind_type)
        if statement is None:
            table = kind_by_type(kind_type).table
            statement = select(
                table.id, table.version, table.data, table.updated_at, table.created_at
            ).where(table.id.in_(bindparam("ids", expanding=True)))
            self._loads[kind_type] = statement
        return statement


def _by_kind(refs: Sequence[Ref]) -> dict[str, list[str]]:
    """Record ids grouped by document type, in their order."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for kind, record_id in refs:
        grouped[kind].append(record_id)
    return grouped


def _mapping_error(error: BaseException) -> SyncError:
    if isinstance(error, SyncError):
        return error
    return PermanentError(f"mapping failed: {type(error).__name__}: {error}")

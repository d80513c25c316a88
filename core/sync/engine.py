"""The sync engine: claim deliveries, push the latest version, record the outcome.

Every push goes through three steps. ``claim`` takes a lease on the (plugin, record)
rows in one UPDATE, so no two workers push one record to one target at once, and
counts the attempt before anything can crash. ``push`` loads each record's LATEST
version, skips it when the target already has it, maps it through the plugin and sends
it with its idempotency key. ``finalize`` records success, a scheduled retry or a dead
letter, only if this worker still holds the lease.
"""

from __future__ import annotations

import logging
import random
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
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from core.connectors.http import classify_exception
from core.db.sync_tables import DEAD, FAILED, PENDING, SYNCED, SyncState
from core.db.types import utcnow
from core.errors import PermanentError, SyncError, TransientError
from core.kinds import kind_by_type
from core.plugin_types import OutboundDocument, PushResult, SyncRecord
from core.plugins import PluginHost
from core.settings import SyncSettings
from core.sync.backoff import retry_delay
from core.sync.idempotency import idempotency_key

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


@dataclass
class Outcome:
    """What one ``process`` call did, and what the caller must enqueue next.

    ``again`` holds records that changed while they were being pushed (send at once);
    ``retry`` holds records to try again after ``retry_delay`` seconds.
    """

    pushed: int = 0
    skipped: int = 0
    dead: int = 0
    failed: int = 0
    again: list[Ref] = field(default_factory=list)
    retry: list[Ref] = field(default_factory=list)
    retry_delay: float = 0.0


@dataclass
class _Result:
    claim: Claim
    version: int | None = None
    external_id: str | None = None
    note: str | None = None
    error: SyncError | None = None


class SyncEngine:
    """Pushes the records of one process's messages to their plugins' targets."""

    def __init__(
        self,
        engine: Engine,
        host: PluginHost,
        settings: SyncSettings,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.host = host
        self.settings = settings
        self.rng = rng or random.Random()

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
        claims = self._claim(plugin, refs, owner, now, max_batch)
        outcome = Outcome()
        if not claims:
            return outcome
        results = self._push(plugin, claims, now)
        self._finalize(plugin, owner, results, outcome)
        return outcome

    # -- claim ------------------------------------------------------------------

    def _claimable(self, plugin: str, now: datetime) -> ColumnElement[bool]:
        return and_(
            SyncState.plugin == plugin,
            SyncState.state.in_((PENDING, FAILED)),
            SyncState.due_at <= now,
            or_(SyncState.lease_until.is_(None), SyncState.lease_until < now),
        )

    def _claim(
        self, plugin: str, refs: Sequence[Ref], owner: str, now: datetime, max_batch: int
    ) -> list[Claim]:
        lease = {
            "lease_owner": owner,
            "lease_until": now + timedelta(seconds=self.settings.lease_seconds),
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
        claimable = self._claimable(plugin, now)
        key = tuple_(SyncState.kind, SyncState.record_id)
        with self.engine.begin() as connection:
            claims = []
            if refs:
                statement = (
                    update(SyncState)
                    .where(claimable, key.in_([tuple(ref) for ref in refs]))
                    .values(**lease)
                    .returning(*returning)
                )
                claims = [Claim(*row) for row in connection.execute(statement)]
            room = max_batch - len(claims)
            if max_batch > 1 and room > 0:
                due = (
                    select(SyncState.kind, SyncState.record_id)
                    .where(claimable)
                    .order_by(SyncState.due_at)
                    .limit(room)
                    .with_for_update(skip_locked=True)
                )
                statement = (
                    update(SyncState)
                    .where(claimable, key.in_(due))
                    .values(**lease)
                    .returning(*returning)
                )
                claims.extend(Claim(*row) for row in connection.execute(statement))
        return claims

    # -- push ---------------------------------------------------------------------

    def _load(self, claims: Iterable[Claim]) -> dict[Ref, Any]:
        by_kind: dict[str, list[str]] = defaultdict(list)
        for claim in claims:
            by_kind[claim.kind].append(claim.record_id)
        rows: dict[Ref, Any] = {}
        with self.engine.connect() as connection:
            for kind_type, ids in by_kind.items():
                table = kind_by_type(kind_type).table
                statement = select(table.id, table.version, table.data, table.updated_at).where(
                    table.id.in_(ids)
                )
                for row in connection.execute(statement):
                    rows[(kind_type, row.id)] = row
        return rows

    def _push(self, plugin: str, claims: list[Claim], now: datetime) -> list[_Result]:
        rows = self._load(claims)
        results: list[_Result] = []
        documents: list[tuple[_Result, OutboundDocument]] = []
        for claim in claims:
            result = _Result(claim)
            results.append(result)
            if claim.attempts > self.settings.max_attempts:
                reason = claim.last_error or "the worker stopped during every attempt"
                result.error = PermanentError(
                    f"gave up after {claim.attempts - 1} attempts: {reason}"
                )
                continue
            row = rows.get((claim.kind, claim.record_id))
            if row is None:
                result.error = PermanentError(f"{claim.kind} {claim.record_id!r} does not exist")
                continue
            result.version = row.version
            if claim.synced_version is not None and claim.synced_version >= row.version:
                continue
            try:
                document = self._document(plugin, claim, row, now)
            except Exception as error:
                result.error = _mapping_error(error)
                continue
            documents.append((result, document))
        self._send(plugin, documents)
        return results

    def _document(self, plugin: str, claim: Claim, row: Any, now: datetime) -> OutboundDocument:
        kind = kind_by_type(claim.kind)
        record = SyncRecord(
            type=claim.kind,
            id=claim.record_id,
            version=row.version,
            data=kind.schema.model_validate(row.data),
            updated_at=row.updated_at,
            external_id=claim.external_id,
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
        for start in range(0, len(documents), size):
            chunk = documents[start : start + size]
            try:
                answers = self.host.push(plugin, [document for _, document in chunk])
            except Exception as error:
                failure = classify_exception(error)
                answers = [PushResult(error=failure)] * len(chunk)
            for (result, _), answer in zip(chunk, answers, strict=True):
                if answer.error is not None:
                    result.error = classify_exception(answer.error)
                else:
                    result.external_id = answer.external_id
                    result.note = answer.note

    # -- finalize -------------------------------------------------------------------

    def _finalize(self, plugin: str, owner: str, results: list[_Result], outcome: Outcome) -> None:
        now = utcnow()
        done, retry, dead = [], [], []
        delays = []
        for result in results:
            claim = result.claim
            params: dict[str, Any] = {"k": claim.kind, "r": claim.record_id}
            error = result.error
            if error is None:
                params.update(v=result.version, ext=result.external_id, note=result.note)
                done.append(params)
            elif isinstance(error, TransientError) and claim.attempts < self.settings.max_attempts:
                delay = retry_delay(
                    claim.attempts,
                    minimum=self.settings.min_backoff_seconds,
                    maximum=self.settings.max_backoff_seconds,
                    retry_after=error.retry_after,
                    rng=self.rng,
                )
                delays.append(delay)
                params.update(err=str(error), due=now + timedelta(seconds=delay))
                retry.append(params)
            else:
                message = str(error)
                if isinstance(error, TransientError):
                    message = f"gave up after {claim.attempts} attempts: {message}"
                params.update(err=message)
                dead.append(params)
                log.warning("%s %s %s is dead: %s", plugin, claim.kind, claim.record_id, message)
        mine = and_(
            SyncState.plugin == plugin,
            SyncState.kind == bindparam("k"),
            SyncState.record_id == bindparam("r"),
            SyncState.lease_owner == owner,
        )
        released = {"lease_owner": None, "lease_until": None, "updated_at": now}
        with self.engine.begin() as connection:
            if done:
                outcome.again.extend(
                    self._record_success(connection, plugin, mine, released, done, now)
                )
            if retry:
                connection.execute(
                    update(SyncState)
                    .where(mine)
                    .values(
                        state=FAILED,
                        last_error=bindparam("err"),
                        due_at=bindparam("due"),
                        enqueued_at=bindparam("due"),
                        **released,
                    ),
                    retry,
                )
            if dead:
                connection.execute(
                    update(SyncState)
                    .where(mine)
                    .values(state=DEAD, last_error=bindparam("err"), due_at=now, **released),
                    dead,
                )
        outcome.pushed += sum(1 for r in results if r.error is None)
        outcome.failed += len(retry)
        outcome.dead += len(dead)
        outcome.retry = [(p["k"], p["r"]) for p in retry]
        outcome.retry_delay = max(delays, default=0.0)

    def _record_success(
        self,
        connection: Connection,
        plugin: str,
        mine: ColumnElement[bool],
        released: dict[str, Any],
        done: list[dict[str, Any]],
        now: datetime,
    ) -> list[Ref]:
        """Mark pushes done; return the records that got a newer version meanwhile."""
        version: BindParameter[int] = bindparam("v", type_=Integer)
        statement = (
            update(SyncState)
            .where(mine)
            .values(
                synced_version=case(
                    (
                        or_(SyncState.synced_version.is_(None), SyncState.synced_version < version),
                        version,
                    ),
                    else_=SyncState.synced_version,
                ),
                external_id=func.coalesce(bindparam("ext"), SyncState.external_id),
                note=bindparam("note"),
                state=case((SyncState.wanted_version > version, PENDING), else_=SYNCED),
                attempts=0,
                last_error=None,
                due_at=now,
                enqueued_at=now,
                **released,
            )
        )
        if len(done) == 1:
            row = connection.execute(statement.returning(SyncState.state), done[0]).first()
            moved_on = row is not None and row.state == PENDING
            return [(done[0]["k"], done[0]["r"])] if moved_on else []
        connection.execute(statement, done)
        refs = [(p["k"], p["r"]) for p in done]
        pending = select(SyncState.kind, SyncState.record_id).where(
            SyncState.plugin == plugin,
            SyncState.state == PENDING,
            SyncState.lease_owner.is_(None),
            tuple_(SyncState.kind, SyncState.record_id).in_(refs),
        )
        return [(row.kind, row.record_id) for row in connection.execute(pending)]


def _mapping_error(error: BaseException) -> SyncError:
    if isinstance(error, SyncError):
        return error
    return PermanentError(f"mapping failed: {type(error).__name__}: {error}")

"""Filters of the dead, retry and inbound lists: parsed from what people type, turned into SQL.

One filter serves the console, the API and the CLI, and is stored as JSON with the bulk
jobs and audit entries that acted on it. Parsing refuses anything malformed with a
:class:`FilterError` naming the field, so a bad filter never widens into "everything".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime
from sqlalchemy import ColumnElement, Text, and_, cast, exists, false, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement as Column

from core.db.inbound_tables import APPLIED, InboxEvent
from core.db.sync_tables import DEAD, DISCARDED, FAILED, PENDING, RESOLVED, SYNCED, SyncState
from core.json_limits import FORBIDDEN_CHARACTERS
from core.kinds import KINDS, kind_by_type
from core.locale import normalize_digits
from core.sync.error_class import valid_class

#: The delivery lists: which states each shows, and whether the newest comes first.
DELIVERY_LISTS: dict[str, tuple[str, ...]] = {
    "dead": (DEAD,),
    "retry": (FAILED,),
    "pending": (PENDING,),
    "synced": (SYNCED,),
    "discarded": (DISCARDED,),
    "resolved": (RESOLVED,),
}
NEWEST_FIRST = frozenset({"dead", "synced", "discarded", "resolved"})
#: Inbound event states a list may show ("" is every state).
INBOX_STATES = ("", DEAD, FAILED, PENDING, APPLIED, DISCARDED)
#: Longest text a filter field accepts.
MAX_TEXT = 200


class FilterError(ValueError):
    """A filter field people typed is malformed; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_time(value: str, zone: ZoneInfo) -> datetime:
    """A time people typed: ISO 8601, or a Jalali date (year below 1700), in ``zone`` if naive.

    ``2024-03-20``, ``2024-03-20T14:30``, ``1403/01/01 14:30`` and the same in Persian
    digits are all accepted.
    """
    text = normalize_digits(value).strip().replace("/", "-")
    if "T" not in text and " " in text:
        text = text.replace(" ", "T", 1)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise FilterError("time", f"not a date or time: {value!r}") from None
    if when.year < 1700:
        try:
            when = jdatetime.datetime(
                when.year, when.month, when.day, when.hour, when.minute, when.second
            ).togregorian()
        except ValueError:
            raise FilterError("time", f"not a Jalali date: {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(UTC)


def _text(values: Mapping[str, str], name: str) -> str | None:
    raw = values.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    if len(text) > MAX_TEXT:
        raise FilterError(name, f"at most {MAX_TEXT} characters")
    return text


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match with LIKE's wildcards taken literally."""
    condition: ColumnElement[bool] = column.icontains(text, autoescape=True)
    return condition


def _in_json(column: Any, text: str, dialect: str) -> ColumnElement[bool]:
    r"""``text`` inside a JSON document column, as its JSON encoding spells it.

    SQLite keeps documents as JSON text with non-ASCII characters escaped (``\u0639``),
    PostgreSQL's JSONB prints them as they are; both escape quotes and backslashes.
    """
    encoded = json.dumps(text, ensure_ascii=dialect == "sqlite")[1:-1]
    return _contains(cast(column, Text), encoded)


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries a list shows or an action takes: a list and optional narrowing.

    ``since`` and ``until`` bound ``due_at``: when a dead delivery died, when a retrying
    one is tried next. ``content`` is looked for in the record's document.
    """

    list: str = "dead"
    plugin: str | None = None
    kind: str | None = None
    record_id: str | None = None
    error: str | None = None
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    content: str | None = None

    @classmethod
    def parse(cls, values: Mapping[str, str], zone: ZoneInfo) -> DeliveryFilter:
        """A filter from form fields or query parameters; FilterError when one is bad."""
        listed = (values.get("list") or "dead").strip()
        if listed not in DELIVERY_LISTS:
            raise FilterError("list", f"one of {', '.join(DELIVERY_LISTS)}")
        kind = _text(values, "kind")
        if kind is not None and kind not in {k.type for k in KINDS.values()}:
            raise FilterError("kind", f"unknown kind {kind!r}")
        error_class = _text(values, "error_class")
        if error_class is not None and not valid_class(error_class):
            raise FilterError("error_class", f"not an error class: {error_class!r}")
        since, until = _times(values, zone)
        return cls(
            list=listed,
            plugin=_text(values, "plugin"),
            kind=kind,
            record_id=_text(values, "record_id"),
            error=_text(values, "error"),
            error_class=error_class,
            since=since,
            until=until,
            content=_text(values, "content"),
        )

    def to_dict(self) -> dict[str, str]:
        """The filter as JSON-safe strings, leaving out what is unset."""
        return _as_strings(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DeliveryFilter:
        """The filter :meth:`to_dict` wrote."""
        return cls.parse({k: str(v) for k, v in values.items()}, ZoneInfo("UTC"))

    def without(self, name: str) -> DeliveryFilter:
        """The same filter with field ``name`` unset (to count the groups of that field)."""
        return replace(self, **{name: None})  # type: ignore[arg-type]

    @property
    def states(self) -> tuple[str, ...]:
        """The delivery states of this filter's list."""
        return DELIVERY_LISTS[self.list]

    @property
    def newest_first(self) -> bool:
        """Whether the list shows the latest ``due_at`` first."""
        return self.list in NEWEST_FIRST

    def condition(self, dialect: str) -> ColumnElement[bool]:
        """The SQL condition on ``sync_state`` of this filter."""
        parts: list[ColumnElement[bool]] = [SyncState.state.in_(self.states)]
        if self.plugin is not None:
            parts.append(SyncState.plugin == self.plugin)
        if self.kind is not None:
            parts.append(SyncState.kind == self.kind)
        if self.record_id is not None:
            parts.append(SyncState.record_id == self.record_id)
        if self.error_class is not None:
            parts.append(SyncState.error_class == self.error_class)
        if self.error is not None:
            parts.append(_contains(SyncState.last_error, self.error))
        if self.since is not None:
            parts.append(SyncState.due_at >= self.since)
        if self.until is not None:
            parts.append(SyncState.due_at <= self.until)
        if self.content is not None:
            parts.append(self._content(dialect))
        return and_(*parts)

    def _content(self, dialect: str) -> ColumnElement[bool]:
        """The record's document contains ``content``: one EXISTS per kind in scope."""
        assert self.content is not None
        kinds = [kind_by_type(self.kind)] if self.kind else list(KINDS.values())
        matches: list[Column[bool]] = []
        for kind in kinds:
            table = kind.table
            found = exists(
                select(table.id).where(
                    table.id == SyncState.record_id, _in_json(table.data, self.content, dialect)
                )
            )
            matches.append(and_(SyncState.kind == kind.type, found))
        return or_(*matches) if matches else false()

    def after(self, cursor: DeliveryCursor) -> ColumnElement[bool]:
        """Rows after ``cursor`` in this list's order (keyset paging)."""
        key = tuple_(SyncState.due_at, SyncState.plugin, SyncState.kind, SyncState.record_id)
        mark = tuple_(*cursor.values())
        if self.newest_first:
            return and_(SyncState.due_at <= cursor.due_at, key < mark)
        return and_(SyncState.due_at >= cursor.due_at, key > mark)


def _times(values: Mapping[str, str], zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    since_text, until_text = _text(values, "since"), _text(values, "until")
    try:
        since = parse_time(since_text, zone) if since_text else None
    except FilterError as error:
        raise FilterError("since", error.message) from None
    try:
        until = parse_time(until_text, zone) if until_text else None
    except FilterError as error:
        raise FilterError("until", error.message) from None
    if since is not None and until is not None and since > until:
        raise FilterError("until", "is before since")
    return since, until


def _as_strings(value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, item in asdict(value).items():
        if item is None or item == "":
            continue
        out[name] = item.isoformat() if isinstance(item, datetime) else str(item)
    return out


#: What a page cursor that no page gave is called.
NOT_A_CURSOR = "not a page cursor"


@dataclass(frozen=True)
class DeliveryCursor:
    """Where a page of deliveries ended: the last row's sort key."""

    due_at: datetime
    plugin: str
    kind: str
    record_id: str

    def values(self) -> tuple[datetime, str, str, str]:
        """The key as a tuple, in sort order."""
        return (self.due_at, self.plugin, self.kind, self.record_id)

    def encode(self) -> str:
        """An opaque URL-safe token for the next page's link."""
        raw = json.dumps([self.due_at.isoformat(), self.plugin, self.kind, self.record_id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> DeliveryCursor:
        """The cursor of a token :meth:`encode` made; FilterError when it is not one."""
        try:
            padded = token + "=" * (-len(token) % 4)
            due, plugin, kind, record_id = json.loads(base64.urlsafe_b64decode(padded))
            parts = (str(plugin), str(kind), str(record_id))
            if any(FORBIDDEN_CHARACTERS.search(part) for part in parts):
                raise ValueError("a cursor holds a forbidden character")
            return cls(datetime.fromisoformat(due), *parts)
        except (ValueError, TypeError, binascii.Error):
            raise FilterError("after", NOT_A_CURSOR) from None


@dataclass(frozen=True)
class InboxFilter:
    """Which inbound events a list shows or an action takes.

    ``kind`` is the event's type and ``record_id`` the sender's event id; ``since`` and
    ``until`` bound when the event was received; ``content`` is looked for in its payload.
    """

    state: str = DEAD
    plugin: str | None = None
    kind: str | None = None
    record_id: str | None = None
    error: str | None = None
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    content: str | None = None

    @classmethod
    def parse(cls, values: Mapping[str, str], zone: ZoneInfo) -> InboxFilter:
        """A filter from form fields or query parameters; FilterError when one is bad."""
        state = (values.get("state") if "state" in values else DEAD) or ""
        state = state.strip()
        if state not in INBOX_STATES:
            raise FilterError("state", f"one of {', '.join(s or '(all)' for s in INBOX_STATES)}")
        error_class = _text(values, "error_class")
        if error_class is not None and not valid_class(error_class):
            raise FilterError("error_class", f"not an error class: {error_class!r}")
        since, until = _times(values, zone)
        return cls(
            state=state,
            plugin=_text(values, "plugin"),
            kind=_text(values, "kind"),
            record_id=_text(values, "record_id"),
            error=_text(values, "error"),
            error_class=error_class,
            since=since,
            until=until,
            content=_text(values, "content"),
        )

    def to_dict(self) -> dict[str, str]:
        """The filter as JSON-safe strings, leaving out what is unset (state "" is kept)."""
        out = _as_strings(self)
        out["state"] = self.state
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> InboxFilter:
        """The filter :meth:`to_dict` wrote."""
        return cls.parse({k: str(v) for k, v in values.items()}, ZoneInfo("UTC"))

    def without(self, name: str) -> InboxFilter:
        """The same filter with field ``name`` unset."""
        return replace(self, **{name: None})  # type: ignore[arg-type]

    def condition(self, dialect: str) -> ColumnElement[bool]:
        """The SQL condition on ``inbox`` of this filter."""
        parts: list[ColumnElement[bool]] = []
        if self.state:
            parts.append(InboxEvent.state == self.state)
        if self.plugin is not None:
            parts.append(InboxEvent.plugin == self.plugin)
        if self.kind is not None:
            parts.append(InboxEvent.type == self.kind)
        if self.record_id is not None:
            parts.append(InboxEvent.event_id == self.record_id)
        if self.error_class is not None:
            parts.append(InboxEvent.error_class == self.error_class)
        if self.error is not None:
            parts.append(_contains(InboxEvent.last_error, self.error))
        if self.since is not None:
            parts.append(InboxEvent.received_at >= self.since)
        if self.until is not None:
            parts.append(InboxEvent.received_at <= self.until)
        if self.content is not None:
            parts.append(_in_json(InboxEvent.payload, self.content, dialect))
        return and_(*parts) if parts else InboxEvent.id.is_not(None)


FILTER_FIELDS = tuple(field.name for field in fields(DeliveryFilter))

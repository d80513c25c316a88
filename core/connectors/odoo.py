"""A typed JSON-RPC client for Odoo Community 16 to 18, shared by every plugin that talks to Odoo.

Odoo cannot be installed from the package registries, so this client follows Odoo's own
sources and its "External API" documentation page (``developer/reference/external_api``)
rather than a running server. The shapes it relies on:

- Endpoint: ``POST <url>/jsonrpc`` (``odoo/addons/base/controllers/rpc.py``: a
  ``type='json'`` route ``jsonrpc(service, method, args)`` that calls ``dispatch_rpc``).
  The body is ``{"jsonrpc": "2.0", "method": "call", "params": {"service": ...,
  "method": ..., "args": [...]}, "id": n}``.
- Login: service ``common``, method ``authenticate`` with ``[db, login, password,
  user_agent_env]`` (``odoo/service/common.py``). In 16 to 18 it answers the user id, or
  ``false`` for a wrong login or password (``AccessDenied`` is caught there). An API key
  is accepted wherever the password is.
- Calls: service ``object``, method ``execute_kw`` with ``[db, uid, password, model,
  method, args, kwargs]`` (``odoo/service/model.py``: ``execute_kw(db, uid, obj, method,
  args, kw)``). ``security.check`` raises ``odoo.exceptions.AccessDenied`` when the
  password or key is wrong; methods whose name starts with ``_`` cannot be called.
- Answers (``odoo/http.py``, ``JsonRPCDispatcher._response``): ``{"jsonrpc": "2.0",
  "id": n, "result": ...}``. When the method returns None the ``result`` member is left
  out altogether, which this client reads as None. Errors come with HTTP 200 as
  ``{"error": {"code": 200, "message": "Odoo Server Error", "data": {"name":
  "odoo.exceptions.ValidationError", "message": ..., "arguments": [...], "context": {},
  "debug": "<traceback>"}}}`` (``serialize_exception`` and ``handle_error``).
- Values: JSON has no None/False distinction problem in requests (XML-RPC cannot carry
  None at all, hence JSON-RPC), but Odoo *answers* an empty field as ``false`` (also for
  char, date and many2one fields); a many2one reads as ``[id, "display name"]``;
  datetimes are UTC strings ``"YYYY-MM-DD HH:MM:SS"`` (seconds, no fraction), dates
  ``"YYYY-MM-DD"``; monetary and float fields are JSON numbers.

Every failure becomes the engine's :class:`~core.errors.TransientError` (timeouts,
refused connections, HTTP 5xx/408/429 with ``Retry-After``, database concurrency errors)
or :class:`~core.errors.PermanentError` (Odoo's validation, user and missing-record
errors with Odoo's own message; refused credentials or access rights, naming the
settings to fix). Nothing here retries: job-level retries belong to the sync engine.

:func:`poll_changes` reads the records changed since a saved :class:`PollCursor`; see its
docstring for why ``write_date`` alone is not a safe cursor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from core.connectors.http import RETRYABLE_4XX, parse_retry_after
from core.errors import PermanentError, TransientError

__all__ = [
    "ODOO_DATETIME_FORMAT",
    "OdooClient",
    "OdooServerError",
    "OdooSettings",
    "OdooVersion",
    "PollBatch",
    "PollCursor",
    "VersionProfile",
    "format_datetime",
    "many2one_id",
    "odoo_value",
    "parse_date",
    "parse_datetime",
    "poll_changes",
    "profile_for",
    "to_decimal",
]

OdooVersion = Literal[16, 17, 18]

#: How Odoo writes a datetime on the wire (UTC, no time zone, whole seconds).
ODOO_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: Odoo exception names that mean "this document is wrong": retrying will not help.
_DOCUMENT_ERRORS = frozenset(
    {
        "odoo.exceptions.ValidationError",
        "odoo.exceptions.UserError",
        "odoo.exceptions.MissingError",
        "odoo.exceptions.RedirectWarning",
    }
)

#: Exception names that mean the credentials (database, login, key) were refused.
_CREDENTIAL_ERRORS = frozenset({"odoo.exceptions.AccessDenied"})

#: Exception names that mean the user may log in but lacks rights on a model or record.
_RIGHTS_ERRORS = frozenset({"odoo.exceptions.AccessError"})

#: Words in a server exception name that mean the database was busy, not the data wrong.
#: Odoo already retries serialization failures five times before giving up; newer
#: releases may report that as their own ``ConcurrencyError``, treated the same.
_BUSY_MARKERS = (
    "ConcurrencyError",
    "OperationalError",
    "SerializationFailure",
    "LockNotAvailable",
    "DeadlockDetected",
    "TransactionRollbackError",
)


class OdooSettings(BaseModel):
    """Where and as whom to reach an Odoo server; plugins nest this in their own settings.

    Error messages name these fields as ``odoo.<field>`` so an admin knows what to fix.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1, description="Base URL of the server, e.g. https://erp.example.com"
    )
    database: str = Field(min_length=1, description="Odoo database name")
    login: str = Field(min_length=1, description="Login of the Odoo user crm-sync acts as")
    api_key: SecretStr = Field(description="API key (or password) of that user")
    version: OdooVersion = Field(description="Major Odoo version: 16, 17 or 18")


@dataclass(frozen=True)
class VersionProfile:
    """The field and method names that differ between Odoo 16, 17 and 18.

    Sources: ``addons/product/models/product_template.py`` (16/17 ``detailed_type`` with
    ``product`` for storable goods; 18 ``type`` is ``consu``/``service``/``combo`` and
    stock adds ``is_storable``), ``addons/stock/models/stock_move.py`` (16 keeps the
    reserved and done quantities in ``reserved_availability`` and ``quantity_done``; 17
    merged both into ``quantity`` plus a ``picked`` flag),
    ``addons/stock/wizard/stock_picking_return.py`` (16/17 ``create_returns``, 18
    ``action_create_returns``) and ``addons/mrp/models/mrp_production.py`` (16
    ``date_planned_start``/``date_planned_finished``, 17 renamed them ``date_start``/
    ``date_finished``). ``sale.order.line`` keeps its taxes in ``tax_id`` in all three.
    """

    version: OdooVersion
    product_type_field: str
    goods_values: Mapping[str, Any]
    consumable_values: Mapping[str, Any]
    service_values: Mapping[str, Any]
    move_reserved_field: str
    move_done_field: str
    return_method: str
    production_start_field: str
    production_finish_field: str
    sale_line_tax_field: str = "tax_id"


_PROFILES: dict[int, VersionProfile] = {
    16: VersionProfile(
        version=16,
        product_type_field="detailed_type",
        goods_values={"detailed_type": "product"},
        consumable_values={"detailed_type": "consu"},
        service_values={"detailed_type": "service"},
        move_reserved_field="reserved_availability",
        move_done_field="quantity_done",
        return_method="create_returns",
        production_start_field="date_planned_start",
        production_finish_field="date_planned_finished",
    ),
    17: VersionProfile(
        version=17,
        product_type_field="detailed_type",
        goods_values={"detailed_type": "product"},
        consumable_values={"detailed_type": "consu"},
        service_values={"detailed_type": "service"},
        move_reserved_field="quantity",
        move_done_field="quantity",
        return_method="create_returns",
        production_start_field="date_start",
        production_finish_field="date_finished",
    ),
    18: VersionProfile(
        version=18,
        product_type_field="type",
        goods_values={"type": "consu", "is_storable": True},
        consumable_values={"type": "consu", "is_storable": False},
        service_values={"type": "service"},
        move_reserved_field="quantity",
        move_done_field="quantity",
        return_method="action_create_returns",
        production_start_field="date_start",
        production_finish_field="date_finished",
    ),
}


def profile_for(version: int) -> VersionProfile:
    """Return the names used by Odoo ``version``; refuse a version this client does not know."""
    try:
        return _PROFILES[version]
    except KeyError:
        raise PermanentError(
            f"Odoo version {version} is not supported (16, 17 or 18); check odoo.version"
        ) from None


class OdooServerError(PermanentError):
    """Odoo refused a call for a reason retrying will not fix.

    ``exception`` is Odoo's exception name (``odoo.exceptions.ValidationError``...) and
    ``odoo_message`` its message as Odoo wrote it, for callers that react to one kind.
    """

    def __init__(self, message: str, *, exception: str, odoo_message: str) -> None:
        super().__init__(message)
        self.exception = exception
        self.odoo_message = odoo_message


# -- values -----------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    """Encode what :mod:`json` cannot: exact decimals, dates and datetimes as Odoo reads them."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} to Odoo")


def odoo_value(value: Any) -> Any:
    """Return ``value`` with ``false`` (Odoo's "empty") turned into None; other values unchanged."""
    return None if value is False else value


def many2one_id(value: Any) -> int | None:
    """Return the id of a many2one as Odoo reads it (``[id, "name"]`` or ``false``)."""
    if isinstance(value, list | tuple) and value:
        return int(value[0])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def to_decimal(value: Any) -> Decimal:
    """Return an Odoo number as the Decimal of its shortest spelling (``false`` is 0)."""
    if value is False or value is None:
        return Decimal(0)
    return Decimal(str(value))


def parse_datetime(value: Any) -> dt.datetime | None:
    """Parse Odoo's ``"YYYY-MM-DD HH:MM:SS"`` (UTC) into an aware datetime; ``false`` is None."""
    if not value:
        return None
    return dt.datetime.strptime(str(value), ODOO_DATETIME_FORMAT).replace(tzinfo=dt.UTC)


def parse_date(value: Any) -> dt.date | None:
    """Parse Odoo's ``"YYYY-MM-DD"`` into a date; ``false`` is None."""
    if not value:
        return None
    return dt.date.fromisoformat(str(value)[:10])


def format_datetime(value: dt.datetime) -> str:
    """Write a datetime the way Odoo expects it: UTC, no time zone, whole seconds."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime(ODOO_DATETIME_FORMAT)


# -- client -----------------------------------------------------------------------------


class OdooClient:
    """One Odoo user's JSON-RPC access to one database, as used by the External API.

    ``http`` is owned by the caller, who sets its timeouts and, in tests, its transport.
    The client keeps only the user id from ``authenticate`` (the API is stateless:
    every call carries the database, user id and key). It is safe to share between
    threads.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        url: str,
        database: str,
        login: str,
        api_key: str,
        version: OdooVersion,
    ) -> None:
        self._http = http
        self._endpoint = f"{url.rstrip('/')}/jsonrpc"
        self.database = database
        self.login = login
        self._api_key = api_key
        self.profile = profile_for(version)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._uid: int | None = None

    @classmethod
    def from_settings(cls, settings: OdooSettings, http: httpx.Client) -> OdooClient:
        """Build a client from a plugin's :class:`OdooSettings`."""
        return cls(
            http,
            url=settings.url,
            database=settings.database,
            login=settings.login,
            api_key=settings.api_key.get_secret_value(),
            version=settings.version,
        )

    @property
    def version(self) -> OdooVersion:
        """The Odoo major version this client speaks to."""
        return self.profile.version

    # -- session ----------------------------------------------------------------------

    def authenticate(self) -> int:
        """Return the user id for the configured login and key, asking Odoo the first time.

        Raises PermanentError naming ``odoo.database``, ``odoo.login`` and
        ``odoo.api_key`` when Odoo refuses them.
        """
        with self._lock:
            if self._uid is None:
                self._uid = self._login()
            return self._uid

    def check_login(self) -> int:
        """Log in again now, whatever was cached: a health check that really asks Odoo.

        Raises like any call when Odoo does not answer, PermanentError when it refuses.
        """
        with self._lock:
            self._uid = self._login()
            return self._uid

    def _login(self) -> int:
        result = self._rpc("common", "authenticate", [self.database, self.login, self._api_key, {}])
        if isinstance(result, bool) or not isinstance(result, int):
            raise PermanentError(
                f"Odoo refused login {self.login!r} on database {self.database!r}; "
                "check the settings odoo.database, odoo.login and odoo.api_key"
            )
        return result

    # -- calls ------------------------------------------------------------------------

    def execute_kw(
        self,
        model: str,
        method: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        """Call ``model.method(*args, **kwargs)`` through ``object.execute_kw``; return its result.

        ``kwargs`` carries Odoo's keyword arguments (``context``, ``fields``, ``limit``,
        ``order``, ``offset``...). A method that returns None answers None.
        """
        uid = self.authenticate()
        call_args = [self.database, uid, self._api_key, model, method, list(args)]
        if kwargs:
            call_args.append(dict(kwargs))
        return self._rpc("object", "execute_kw", call_args, target=f"{model}.{method}")

    def search(
        self,
        model: str,
        domain: Sequence[Any],
        *,
        order: str | None = None,
        limit: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[int]:
        """Return the ids of the records of ``model`` that match ``domain``."""
        kwargs = _kwargs(order=order, limit=limit, context=context)
        return [
            int(record_id) for record_id in self.execute_kw(model, "search", [list(domain)], kwargs)
        ]

    def search_read(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        order: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Search and read in one call; every row has ``id`` plus ``fields``."""
        kwargs = _kwargs(
            fields=list(fields), order=order, limit=limit, offset=offset, context=context
        )
        return list(self.execute_kw(model, "search_read", [list(domain)], kwargs))

    def read(
        self,
        model: str,
        ids: Sequence[int],
        fields: Sequence[str],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Read ``fields`` of the records of ``ids``; raises OdooServerError if one is gone."""
        if not ids:
            return []
        kwargs = _kwargs(fields=list(fields), context=context)
        return list(self.execute_kw(model, "read", [list(ids)], kwargs))

    def create(
        self,
        model: str,
        values: Sequence[Mapping[str, Any]],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> list[int]:
        """Create one record per mapping in a single call and return their ids in order."""
        if not values:
            return []
        kwargs = _kwargs(context=context)
        result = self.execute_kw(model, "create", [[dict(item) for item in values]], kwargs)
        return [int(record_id) for record_id in result]

    def write(
        self,
        model: str,
        ids: Sequence[int],
        values: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the same ``values`` on every record of ``ids`` in one call."""
        if ids and values:
            self.execute_kw(model, "write", [list(ids), dict(values)], _kwargs(context=context))

    def call(
        self,
        model: str,
        method: str,
        ids: Sequence[int],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        """Call a public record method (a form button such as ``action_confirm``) on ``ids``."""
        return self.execute_kw(model, method, [list(ids)], _kwargs(context=context))

    # -- transport --------------------------------------------------------------------

    def _rpc(self, service: str, method: str, args: list[Any], *, target: str = "") -> Any:
        """Send one JSON-RPC call and return its result, or raise the classified error."""
        target = target or f"{service}.{method}"
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(self._ids),
        }
        body = json.dumps(payload, default=_json_default, ensure_ascii=False).encode("utf-8")
        try:
            response = self._http.post(
                self._endpoint, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException as error:
            raise TransientError(f"Odoo did not answer {target} in time: {error}") from error
        except httpx.TransportError as error:
            raise TransientError(
                f"cannot reach Odoo at {self._endpoint} ({type(error).__name__}: {error}); "
                "check odoo.url if this persists"
            ) from error
        self._check_status(response, target)
        try:
            answer = response.json()
        except ValueError as error:
            raise PermanentError(
                f"Odoo at {self._endpoint} answered {target} with something that is not JSON; "
                "check odoo.url"
            ) from error
        if not isinstance(answer, Mapping):
            raise PermanentError(f"Odoo answered {target} with unexpected JSON: {answer!r:.200}")
        if "error" in answer:
            raise self._error(answer["error"], target)
        return answer.get("result")

    def _check_status(self, response: httpx.Response, target: str) -> None:
        status = response.status_code
        if response.is_success:
            return
        if status >= 500 or status in RETRYABLE_4XX:
            raise TransientError(
                f"Odoo answered {target} with HTTP {status}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        raise PermanentError(
            f"Odoo at {self._endpoint} answered {target} with HTTP {status}; "
            "check odoo.url and odoo.database"
        )

    def _error(self, error: Any, target: str) -> TransientError | PermanentError:
        data = error.get("data") if isinstance(error, Mapping) else None
        if not isinstance(data, Mapping):
            return PermanentError(f"Odoo refused {target}: {error!r:.300}")
        name = str(data.get("name") or "")
        message = str(
            data.get("message") or (error.get("message") if isinstance(error, Mapping) else "")
        )
        if name in _CREDENTIAL_ERRORS:
            return OdooServerError(
                f"Odoo refused the credentials of login {self.login!r} on database "
                f"{self.database!r} for {target} ({message}); check the settings "
                "odoo.database, odoo.login and odoo.api_key",
                exception=name,
                odoo_message=message,
            )
        if name in _RIGHTS_ERRORS:
            return OdooServerError(
                f"Odoo user {self.login!r} may not do {target}: {message} "
                "(grant that user the needed access rights in Odoo, or set odoo.login and "
                "odoo.api_key to a user who has them)",
                exception=name,
                odoo_message=message,
            )
        if any(marker in name for marker in _BUSY_MARKERS):
            if "does not exist" in message:
                return OdooServerError(
                    f"Odoo has no database {self.database!r} ({message}); check odoo.database",
                    exception=name,
                    odoo_message=message,
                )
            return TransientError(f"Odoo's database was busy during {target}: {message}")
        if name in _DOCUMENT_ERRORS:
            return OdooServerError(
                f"Odoo refused {target}: {message}", exception=name, odoo_message=message
            )
        return OdooServerError(
            f"Odoo failed {target} with {name or 'an unnamed error'}: {message}",
            exception=name,
            odoo_message=message,
        )


def _kwargs(**values: Any) -> dict[str, Any]:
    """Keep only the keyword arguments that were given, so requests carry no empty keys."""
    return {key: value for key, value in values.items() if value is not None}


# -- polling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PollCursor:
    """Where the last poll of one model stopped; save it with :meth:`to_json` after each batch.

    ``write_date`` is the newest ``write_date`` already handed out (Odoo's UTC string).
    ``seen`` maps the id of every record handed out whose ``write_date`` lies within the
    overlap window ending at ``write_date`` to ``[write_date, fingerprint]`` of what was
    handed out, so a record read again unchanged is skipped and a changed one is not.
    """

    write_date: str = "1970-01-01 00:00:00"
    seen: Mapping[int, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        """Return the cursor as a JSON string to store between runs."""
        return json.dumps(
            {
                "write_date": self.write_date,
                "seen": {str(key): list(value) for key, value in sorted(self.seen.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> PollCursor:
        """Rebuild a cursor saved with :meth:`to_json`; None or empty starts from the beginning."""
        if not text:
            return cls()
        data = json.loads(text)
        seen = {int(key): (str(value[0]), str(value[1])) for key, value in data["seen"].items()}
        return cls(write_date=str(data["write_date"]), seen=seen)


@dataclass(frozen=True)
class PollBatch:
    """One poll's changed records, oldest first, and the cursor to save after applying them.

    ``has_more`` says more changes are waiting: poll again at once.
    """

    records: list[dict[str, Any]]
    cursor: PollCursor
    has_more: bool


def _fingerprint(record: Mapping[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def poll_changes(
    client: OdooClient,
    model: str,
    fields: Sequence[str],
    cursor: PollCursor,
    *,
    domain: Sequence[Any] = (),
    limit: int = 200,
    overlap_seconds: int = 60,
    context: Mapping[str, Any] | None = None,
) -> PollBatch:
    """Return the records of ``model`` changed since ``cursor``, each change exactly once.

    Records are read with ``write_date >= cursor.write_date - overlap_seconds``, ordered by
    ``write_date, id``. A plain ``write_date > cursor`` (or even ``(write_date, id) >
    cursor``) would lose changes in Odoo:

    - many records share one timestamp (every record written in one transaction gets
      the transaction's start time), and a batch limit can cut through them;
    - Odoo reads ``write_date`` to the second but stores a finer time, so a record read
      as ``10:00:00`` still matches ``write_date > '10:00:00'``; its id order within that
      second says nothing, and a second change within the same second keeps the same
      visible ``write_date``;
    - ``write_date`` is the time the writing transaction *started*: a long transaction
      commits rows older than the cursor after a poll has moved past them.

    So the cursor remembers a fingerprint of every record it handed out within the
    overlap window: a record read again with the same ``write_date`` and the same values
    is skipped, anything else is handed out. The query limit is ``limit`` plus the number
    of remembered records, so skipped rows never stall progress. ``overlap_seconds``
    bounds how late a commit may arrive and still be seen (0 still handles shared
    timestamps); a larger window costs re-reading more unchanged rows each poll.
    """
    read_fields = sorted({*fields, "write_date"})
    window_start = _shift(cursor.write_date, -overlap_seconds)
    query_limit = limit + len(cursor.seen)
    rows = client.search_read(
        model,
        [("write_date", ">=", window_start), *domain],
        read_fields,
        order="write_date asc, id asc",
        limit=query_limit,
        context=context,
    )
    seen: dict[int, tuple[str, str]] = dict(cursor.seen)
    newest = cursor.write_date
    changed: list[dict[str, Any]] = []
    for row in rows:
        record_id = int(row["id"])
        stamp = (str(row["write_date"]), _fingerprint(row))
        if seen.get(record_id) != stamp:
            changed.append(row)
        seen[record_id] = stamp
        newest = max(newest, stamp[0])
    keep_from = _shift(newest, -overlap_seconds)
    kept = {key: value for key, value in seen.items() if value[0] >= keep_from}
    return PollBatch(
        records=changed,
        cursor=PollCursor(write_date=newest, seen=kept),
        has_more=len(rows) >= query_limit,
    )


def _shift(stamp: str, seconds: int) -> str:
    moment = dt.datetime.strptime(stamp, ODOO_DATETIME_FORMAT) + dt.timedelta(seconds=seconds)
    return moment.strftime(ODOO_DATETIME_FORMAT)

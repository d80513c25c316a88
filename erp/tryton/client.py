"""A typed JSON-RPC client for a Tryton 8.x server, shared by every plugin that talks to Tryton.

The client logs in with ``common.db.login``, sends the session in the ``Authorization``
header, appends the user's context (from ``res.user.get_preferences``) to every model
call, logs in again once when the server says the session has expired, and turns every
failure into the engine's :class:`~core.errors.TransientError` or
:class:`~core.errors.PermanentError` so core knows whether to retry.

Core owns the :class:`httpx.Client` (timeouts, pool, transport); the client only keeps
the session. Nothing here retries a call except that one re-login: job-level retries
belong to the sync engine.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from core.connectors.http import RETRYABLE_4XX, parse_retry_after
from core.errors import PermanentError, SyncError, TransientError
from erp.retries import login_retrying

__all__ = [
    "TrytonClient",
    "TrytonSettings",
    "WizardResult",
    "decode",
    "encode",
]

#: Tryton's error types that mean "this document is wrong", not "try again later".
_PERMANENT_ERROR_TYPES = frozenset({"UserError", "UserWarning", "LoginException"})

#: Words in a server-side exception that mean the database was busy, not the data wrong.
_TRANSIENT_MARKERS = ("OperationalError", "database is locked", "TimeOutException", "deadlock")


class TrytonSettings(BaseModel):
    """Where and as whom to reach a Tryton server; plugins nest this in their own settings.

    Error messages name these fields as ``tryton.<field>`` so an admin knows what to fix.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, description="Base URL of the server, e.g. http://erp:8000")
    database: str = Field(min_length=1, description="Tryton database name")
    username: str = Field(min_length=1, description="Login of the Tryton user crm-sync acts as")
    password: SecretStr = Field(description="Password of that user")
    language: str = Field(default="en", description="Language code sent at login")


@dataclass(frozen=True)
class WizardResult:
    """What one wizard step answered: the next form to fill, or the actions it ran.

    ``state`` and ``defaults`` describe the next form when the wizard shows one (else
    ``state`` is None); ``defaults`` leaves out the display-only ``field.`` members so it
    can be sent back as form data. ``actions`` lists the client actions the wizard asked for.
    """

    state: str | None
    defaults: dict[str, Any]
    actions: list[Any]


def encode(value: Any) -> Any:
    """Return ``value`` with Decimal, date, datetime, time, timedelta and bytes in Tryton's JSON.

    Tryton marks such values with a ``__class__`` member; containers are walked so the
    result can go straight to :func:`json.dumps`.
    """
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dt.time):
        return {
            "__class__": "time",
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, bytes | bytearray):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(key): encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(item) for item in value]
    return value


def _decode_object(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "datetime":
        return dt.datetime(
            obj["year"],
            obj["month"],
            obj["day"],
            obj.get("hour", 0),
            obj.get("minute", 0),
            obj.get("second", 0),
            obj.get("microsecond", 0),
        )
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "time":
        return dt.time(
            obj.get("hour", 0),
            obj.get("minute", 0),
            obj.get("second", 0),
            obj.get("microsecond", 0),
        )
    if kind == "timedelta":
        return dt.timedelta(seconds=obj["seconds"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


def decode(text: str | bytes) -> Any:
    """Parse a Tryton JSON answer, turning ``__class__`` objects back into Python values."""
    return json.loads(text, object_hook=_decode_object)


def _retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))


def _error_message(error: Any) -> str:
    """Return the human part of Tryton's ``error`` member: ``[type, [message, ...]]``."""
    if isinstance(error, list | tuple) and len(error) == 2:
        kind, args = error
        if isinstance(args, list | tuple):
            if kind == "UserWarning" and len(args) >= 2:
                parts = [str(args[1]), str(args[2]) if len(args) > 2 else ""]
            elif kind in _PERMANENT_ERROR_TYPES or kind == "ConcurrencyException":
                parts = [str(args[0]), str(args[1]) if len(args) > 1 else ""]
            else:
                parts = [str(kind)]
            return " ".join(part for part in parts if part).strip()
        return str(kind)
    return str(error)


class _SessionExpiredError(Exception):
    """The server refused the session token; the caller logs in again and retries once."""


class TrytonClient:
    """One user's JSON-RPC session with one Tryton database.

    ``http`` is owned by the caller, who sets its timeouts and, in tests, its transport.
    The client is safe to share between threads: a lock guards the session.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        url: str,
        database: str,
        username: str,
        password: str,
        language: str = "en",
    ) -> None:
        self._http = http
        self._endpoint = f"{url.rstrip('/')}/{database}/rpc/"
        self.database = database
        self.username = username
        self._password = password
        self._language = language
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._authorization: str | None = None
        self._context: dict[str, Any] = {}
        self._session_generation = 0

    @classmethod
    def from_settings(cls, settings: TrytonSettings, http: httpx.Client) -> TrytonClient:
        """Build a client from a plugin's :class:`TrytonSettings`."""
        return cls(
            http,
            url=settings.url,
            database=settings.database,
            username=settings.username,
            password=settings.password.get_secret_value(),
            language=settings.language,
        )

    @property
    def context(self) -> dict[str, Any]:
        """The user's context as the server gave it at login (a copy)."""
        return dict(self._context)

    # -- session ----------------------------------------------------------------------

    def login(self) -> None:
        """Open a session and load the user's context; raises PermanentError on bad credentials."""
        with self._lock:
            self._login_locked()

    def _login_locked(self) -> None:
        """Log in, trying again in place after a short transient failure (erp.retries)."""
        for attempt in login_retrying():
            with attempt:
                self._login_once()

    def _login_once(self) -> None:
        result = self._post(
            "common.db.login",
            [self.username, {"password": self._password}, self._language],
            authorization=None,
            logging_in=True,
        )
        if not isinstance(result, list) or len(result) < 2:
            raise PermanentError(f"Tryton answered an unexpected login result: {result!r}")
        user_id, token = result[0], result[1]
        raw = f"{self.username}:{user_id}:{token}".encode()
        self._authorization = "Session " + base64.b64encode(raw).decode("ascii")
        self._session_generation += 1
        preferences = self._post(
            "model.res.user.get_preferences",
            [True, {}],
            authorization=self._authorization,
            logging_in=False,
        )
        self._context = dict(preferences) if isinstance(preferences, Mapping) else {}

    def logout(self) -> None:
        """Close the session on the server; the next call logs in again."""
        with self._lock:
            authorization = self._authorization
            self._authorization = None
        if authorization is not None:
            with contextlib.suppress(_SessionExpiredError, SyncError):
                self._post("common.db.logout", [], authorization=authorization, logging_in=False)

    def _session(self) -> tuple[str, int]:
        with self._lock:
            if self._authorization is None:
                self._login_locked()
            assert self._authorization is not None
            return self._authorization, self._session_generation

    def _relogin(self, generation: int) -> None:
        with self._lock:
            if generation == self._session_generation:
                self._authorization = None
                self._login_locked()

    # -- calls ------------------------------------------------------------------------

    def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` with ``params`` as given (no context added) and return its result.

        Logs in first when there is no session yet, and once more if the server says
        the session has expired.
        """
        authorization, generation = self._session()
        try:
            return self._post(method, list(params), authorization=authorization, logging_in=False)
        except _SessionExpiredError:
            self._relogin(generation)
        authorization, _ = self._session()
        try:
            return self._post(method, list(params), authorization=authorization, logging_in=False)
        except _SessionExpiredError as error:
            raise PermanentError(
                f"Tryton refused the session of user {self.username!r} right after login "
                f"({error}); check that this user may use {method} (settings tryton.username)"
            ) from error

    def execute(
        self, model: str, method: str, *args: Any, context: Mapping[str, Any] | None = None
    ) -> Any:
        """Call ``model.<model>.<method>(*args, context)`` with the user's context last.

        ``context`` is merged over the user's context for this call only (for example
        ``{"locations": [id]}`` to read stock levels in one place).
        """
        if self._authorization is None:
            self._session()
        merged = {**self._context, **(context or {})}
        return self.call(f"model.{model}.{method}", *args, merged)

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
        ids = self.execute(model, "create", [dict(item) for item in values], context=context)
        return [int(record_id) for record_id in ids]

    def write(
        self,
        model: str,
        ids: Sequence[int],
        values: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the same ``values`` on every record of ``ids`` in one call."""
        if ids:
            self.execute(model, "write", list(ids), dict(values), context=context)

    def delete(
        self, model: str, ids: Sequence[int], *, context: Mapping[str, Any] | None = None
    ) -> None:
        """Delete the records of ``ids``."""
        if ids:
            self.execute(model, "delete", list(ids), context=context)

    def read(
        self,
        model: str,
        ids: Sequence[int],
        fields: Sequence[str],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Read ``fields`` of the records of ``ids``, in the order of ``ids``.

        Dotted names (``party.name``) are allowed, as in Tryton's own client.
        """
        if not ids:
            return []
        rows = self.execute(model, "read", list(ids), list(fields), context=context)
        by_id = {row["id"]: row for row in rows}
        return [by_id[record_id] for record_id in ids if record_id in by_id]

    def search(
        self,
        model: str,
        domain: Sequence[Any],
        *,
        offset: int = 0,
        limit: int | None = None,
        order: Sequence[tuple[str, str]] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[int]:
        """Return the ids of the records that match ``domain`` (Tryton's domain syntax)."""
        ids = self.execute(
            model,
            "search",
            list(domain),
            offset,
            limit,
            [list(item) for item in order] if order else None,
            context=context,
        )
        return [int(record_id) for record_id in ids]

    def search_read(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        offset: int = 0,
        limit: int | None = None,
        order: Sequence[tuple[str, str]] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Search and read in one call; each row has ``id`` plus ``fields``."""
        rows = self.execute(
            model,
            "search_read",
            list(domain),
            offset,
            limit,
            [list(item) for item in order] if order else None,
            list(fields),
            context=context,
        )
        return list(rows)

    def button(
        self,
        model: str,
        name: str,
        ids: Sequence[int],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        """Press the workflow button ``name`` (``quote``, ``confirm``, ``post``...) on ``ids``."""
        if not ids:
            return None
        return self.execute(model, name, list(ids), context=context)

    def run_wizard(
        self,
        name: str,
        *,
        model: str,
        ids: Sequence[int],
        steps: Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]],
        context: Mapping[str, Any] | None = None,
    ) -> WizardResult:
        """Run wizard ``name`` on records ``ids`` of ``model`` through ``steps`` and delete it.

        Each step is ``(state, data)``: the state to execute and the form values keyed by
        state name, exactly as Tryton's client sends them. Returns the answer of the last
        step. Wizards are not idempotent: callers check the result before running one again.
        """
        wizard_context = {
            **(context or {}),
            "active_model": model,
            "active_id": ids[0] if ids else None,
            "active_ids": list(ids),
        }
        merged = {**self._context, **wizard_context}
        session, _start, _end = self.call(f"wizard.{name}.create", merged)
        result = WizardResult(state=None, defaults={}, actions=[])
        try:
            for state, data in steps:
                answer = self.call(
                    f"wizard.{name}.execute",
                    session,
                    {key: dict(value) for key, value in data.items()},
                    state,
                    merged,
                )
                view = answer.get("view") if isinstance(answer, Mapping) else None
                actions = answer.get("actions", []) if isinstance(answer, Mapping) else []
                if view:
                    result = WizardResult(
                        state=view.get("state"),
                        defaults={
                            key: value
                            for key, value in (view.get("defaults") or {}).items()
                            if "." not in key
                        },
                        actions=list(actions),
                    )
                else:
                    result = WizardResult(state=None, defaults={}, actions=list(actions))
        finally:
            self.call(f"wizard.{name}.delete", session, merged)
        return result

    def model_data_id(self, module: str, xml_id: str) -> int:
        """Return the database id of the record Tryton's module data calls ``module.xml_id``."""
        return int(self.execute("ir.model.data", "get_id", module, xml_id))

    # -- transport --------------------------------------------------------------------

    def _post(
        self, method: str, params: list[Any], *, authorization: str | None, logging_in: bool
    ) -> Any:
        body = json.dumps({"id": next(self._ids), "method": method, "params": encode(params)})
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        try:
            response = self._http.post(self._endpoint, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise TransientError(f"Tryton did not answer {method} in time: {error}") from error
        except httpx.TransportError as error:
            raise TransientError(
                f"cannot reach Tryton at {self._endpoint} ({type(error).__name__}: {error})"
            ) from error
        self._check_status(response, method, logging_in=logging_in)
        try:
            answer = decode(response.content)
        except ValueError as error:
            raise TransientError(
                f"Tryton answered {method} with something that is not JSON: {response.text[:200]!r}"
            ) from error
        if not isinstance(answer, Mapping):
            raise PermanentError(f"Tryton answered {method} with {answer!r}")
        if answer.get("error") is not None:
            raise self._error_for(method, answer["error"])
        return answer.get("result")

    def _check_status(self, response: httpx.Response, method: str, *, logging_in: bool) -> None:
        status = response.status_code
        if status == 200:
            return
        if status >= 500 or status in RETRYABLE_4XX or status == 423:  # 423: record locked
            raise TransientError(
                f"Tryton answered {method} with HTTP {status}",
                retry_after=_retry_after(response),
            )
        if status in (401, 403):
            if logging_in:
                raise PermanentError(
                    f"Tryton refused the login of user {self.username!r} on database "
                    f"{self.database!r} (HTTP {status}); check the settings tryton.username "
                    "and tryton.password"
                )
            raise _SessionExpiredError(f"HTTP {status} on {method}")
        if status == 404:
            raise PermanentError(
                f"Tryton has no database {self.database!r} at {self._endpoint} (HTTP 404); "
                "check the settings tryton.url and tryton.database"
            )
        raise PermanentError(
            f"Tryton answered {method} with HTTP {status}: {response.text[:300].strip()}"
        )

    @staticmethod
    def _error_for(method: str, error: Any) -> SyncError:
        kind = error[0] if isinstance(error, list | tuple) and error else None
        message = _error_message(error)
        if kind in _PERMANENT_ERROR_TYPES:
            return PermanentError(f"Tryton refused {method}: {message}")
        if kind == "ConcurrencyException":
            return TransientError(f"Tryton reported a concurrent change on {method}: {message}")
        details = " ".join(str(part) for part in error) if isinstance(error, list | tuple) else ""
        if any(marker in details for marker in _TRANSIENT_MARKERS):
            return TransientError(f"Tryton was busy on {method}: {message}")
        return PermanentError(f"Tryton failed on {method}: {message}")

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

Reading changes lives in :mod:`erp.odoo.polling`, value conversions in :mod:`erp.odoo.values`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from core.connectors.http import RETRYABLE_4XX, parse_retry_after
from core.errors import PermanentError, TransientError
from erp.odoo.values import json_default
from erp.retries import login_retrying

__all__ = [
    "OdooClient",
    "OdooServerError",
    "OdooSettings",
    "OdooVersion",
    "VersionProfile",
    "profile_for",
]

OdooVersion = Literal[16, 17, 18]

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
        """Log in, trying again in place after a short transient failure (erp.retries)."""
        for attempt in login_retrying():
            with attempt:
                return self._login_once()
        raise AssertionError("login_retrying either returns or raises")  # pragma: no cover

    def _login_once(self) -> int:
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
        body = json.dumps(payload, default=json_default, ensure_ascii=False).encode("utf-8")
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

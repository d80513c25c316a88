"""The plugin host: finds plugins, validates their settings and calls their hooks.

Core code calls this typed facade, never ``pm.hook.*`` directly. Plugins come from the
entry-point group ``crm_sync.plugins``; tests and embedding applications may register
more objects by name. ``CRM_SYNC_DISABLED_PLUGINS`` blocks plugins by name and
``CRM_SYNC_TRACE_HOOKS=1`` writes every hook call to standard error.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, cast

import httpx
import pluggy
from pydantic import ValidationError

from core import hookspecs
from core.errors import ConfigurationError
from core.plugin_types import (
    HealthReport,
    InboundEvent,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PluginSettings,
    PollResult,
    PushResult,
    SyncRecord,
)
from core.settings import Settings

ENTRY_POINT_GROUP = "crm_sync.plugins"


@dataclass
class PluginInfo:
    """What ``crm-sync plugins`` shows about one installed plugin."""

    name: str
    version: str
    enabled: bool
    hooks: list[str] = field(default_factory=list)
    description: PluginDescription | None = None

    @property
    def status(self) -> str:
        """A one-word summary: disabled, idle (no target configured) or active."""
        if not self.enabled:
            return "disabled"
        if self.description is None or self.description.target is None:
            return "idle"
        return "active"


def _disable_hint(plugin: str) -> str:
    return (
        f'disable it with disabled_plugins = ["{plugin}"] '
        f"(or CRM_SYNC_DISABLED_PLUGINS={plugin}) to start without it"
    )


def _spec_signature(hook: str) -> str:
    spec = getattr(hookspecs, hook, None)
    if spec is None:
        return hook
    return f"{hook}({', '.join(inspect.signature(spec).parameters)})"


def format_hook_error(plugin: str, error: pluggy.PluginValidationError) -> str:
    """One line naming the plugin, the hook and what is wrong with it, and how to disable it.

    pluggy reports a misspelt hook name (from ``check_pending``) and an argument the
    specification does not have (from ``register``) over several lines.
    """
    text = str(error)
    unknown = re.search(r"unknown hook '(\w+)'", text)
    if unknown:
        hook = unknown.group(1)
        close = difflib.get_close_matches(hook, hook_names(), n=1)
        guess = f" (did you mean {_spec_signature(close[0])}?)" if close else ""
        return (
            f"plugin {plugin!r} implements {hook}, which is not a crm-sync hook{guess}; "
            + _disable_hint(plugin)
        )
    named = re.search(r"for hook '(\w+)'", text)
    hook = named.group(1) if named else "a hook"
    arguments = re.search(r"Argument\(s\) (\{[^}]*\})", text)
    problem = (
        f"takes {arguments.group(1)}, not in the specification {_spec_signature(hook)}"
        if arguments
        else " ".join(text.split())
    )
    return f"plugin {plugin!r}: its hook {hook} {problem}; " + _disable_hint(plugin)


def format_validation_error(plugin: str, error: ValidationError) -> str:
    """Describe a settings validation error naming the plugin and each bad field."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(settings)"
        problems.append(f"plugins.{plugin}.{where}: {item['msg']}")
    return f"plugin {plugin!r} has invalid settings: " + "; ".join(problems)


def only_plugin(settings: Settings, name: str) -> Settings:
    """``settings`` with every installed plugin but ``name`` disabled.

    For a command about one plugin (``crm-sync resync finance``): the others are never
    imported, so the command starts sooner, and their settings are not its business.
    """
    installed = {entry_point.name for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    disabled = sorted(set(settings.disabled_plugins) | (installed - {name}))
    return settings.model_copy(update={"disabled_plugins": disabled})


class PluginHost:
    """Loads the enabled plugins once per process and calls their hooks one plugin at a time."""

    def __init__(
        self,
        settings: Settings,
        *,
        extra_plugins: Mapping[str, object] | None = None,
        load_entry_points: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        if os.environ.get("CRM_SYNC_TRACE_HOOKS"):
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()
        for name in settings.disabled_plugins:
            self.pm.set_blocked(name)
        self._versions: dict[str, str] = {}
        if load_entry_points:
            self._load_entry_points()
        for name, plugin in (extra_plugins or {}).items():
            if not self.pm.is_blocked(name):
                self._register(name, plugin)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as error:
            name = self.pm.get_name(error.plugin) or repr(error.plugin)
            raise ConfigurationError(format_hook_error(name, error)) from None
        self._callers: dict[tuple[str, str], Any] = {}
        self._contexts: dict[str, PluginContext] = {}
        self._descriptions: dict[str, PluginDescription] = {}
        self._inflight: dict[str, threading.BoundedSemaphore] = {}
        self._transport = transport
        # One TLS context for every plugin's client: building one reads the whole CA
        # bundle, a noticeable part of a command's start-up when done per plugin.
        self._tls = httpx.create_ssl_context()
        self._configure_all()

    # -- loading ---------------------------------------------------------------

    def _load_entry_points(self) -> None:
        """Import and register every ``crm_sync.plugins`` entry point that is not disabled.

        A plugin that fails to import stops start-up with one line naming it (and how to
        disable it), not the import's traceback; a disabled one is never imported.
        """
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            name = entry_point.name
            if self.pm.is_blocked(name) or self.pm.has_plugin(name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as error:
                raise ConfigurationError(
                    f"plugin {name!r} ({entry_point.value}) failed to import: "
                    f"{type(error).__name__}: {' '.join(str(error).split())}; "
                    + _disable_hint(name)
                ) from None
            self._register(name, plugin)
            if entry_point.dist is not None:
                self._versions[name] = entry_point.dist.version

    def _register(self, name: str, plugin: object) -> None:
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as error:
            raise ConfigurationError(format_hook_error(name, error)) from None

    def _configure_all(self) -> None:
        names = set(self.names())
        unknown = set(self.settings.plugins) - names - set(self.settings.disabled_plugins)
        if unknown:
            raise ConfigurationError(
                f"settings name plugins that are not installed: {', '.join(sorted(unknown))}"
            )
        for name in self.names():
            context = PluginContext(
                name=name,
                settings=self._validate_settings(name),
                http=self._client(),
                attributes=self.settings.attributes,
            )
            self._contexts[name] = context
            description = self._call(name, "crm_sync_describe", context=context)
            if not isinstance(description, PluginDescription):
                raise ConfigurationError(f"plugin {name!r}: crm_sync_describe returned nothing")
            self._descriptions[name] = description
        limit = self.settings.sync.max_inflight_per_plugin or max(
            1, self.settings.worker_threads - (len(self.active()) - 1)
        )
        for name in self.names():
            self._inflight[name] = threading.BoundedSemaphore(limit)

    def _validate_settings(self, name: str) -> PluginSettings:
        model = self._call(name, "crm_sync_settings_model")
        if model is None:
            return PluginSettings()
        try:
            return cast(PluginSettings, model.model_validate(self.settings.plugins.get(name, {})))
        except ValidationError as error:
            raise ConfigurationError(format_validation_error(name, error)) from None

    def _client(self) -> httpx.Client:
        """A plugin's HTTP client: the push timeout, pooled connections, the shared TLS context."""
        timeout = httpx.Timeout(self.settings.sync.push_timeout_seconds)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        return httpx.Client(
            timeout=timeout, limits=limits, transport=self._transport, verify=self._tls
        )

    def _call(self, name: str, hook: str, **kwargs: Any) -> Any:
        caller = self._callers.get((name, hook))
        if caller is None:
            others = [plugin for other, plugin in self._registered() if other != name]
            caller = self.pm.subset_hook_caller(hook, remove_plugins=others)
            self._callers[(name, hook)] = caller
        return caller(**kwargs)

    # -- queries ---------------------------------------------------------------

    def _registered(self) -> list[tuple[str, object]]:
        """(name, plugin) of every registered plugin; pluggy lists blocked names with None."""
        return [(name, plugin) for name, plugin in self.pm.list_name_plugin() if plugin is not None]

    def names(self) -> list[str]:
        """Names of the enabled plugins, sorted."""
        return sorted(name for name, _ in self._registered())

    def context(self, name: str) -> PluginContext:
        """The context (validated settings, HTTP client) of an enabled plugin."""
        return self._contexts[name]

    def description(self, name: str) -> PluginDescription:
        """What an enabled plugin subscribes to and where it sends documents."""
        return self._descriptions[name]

    def active(self) -> list[str]:
        """Enabled plugins that have a target configured."""
        return [name for name in self.names() if self._descriptions[name].target is not None]

    def subscribers(self, kind: str) -> list[str]:
        """Active plugins subscribed to changes of ``kind`` (a document type)."""
        return [name for name in self.active() if kind in self._descriptions[name].subscriptions]

    def inflight(self, name: str) -> threading.BoundedSemaphore:
        """The per-process limit on concurrent pushes of one plugin (plugin isolation).

        By default a plugin may use every worker thread but one per other active plugin,
        so a slow target can never take the threads the others need.
        """
        return self._inflight[name]

    def installed(self) -> list[PluginInfo]:
        """Every installed plugin, enabled or not, with version and implemented hooks."""
        infos = []
        for name, plugin in self._registered():
            callers = self.pm.get_hookcallers(plugin) or []
            infos.append(
                PluginInfo(
                    name=name,
                    version=self._versions.get(name, "-"),
                    enabled=True,
                    hooks=sorted(caller.name for caller in callers),
                    description=self._descriptions.get(name),
                )
            )
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.pm.is_blocked(entry_point.name):
                version = entry_point.dist.version if entry_point.dist else "-"
                infos.append(PluginInfo(name=entry_point.name, version=version, enabled=False))
        return sorted(infos, key=lambda info: info.name)

    # -- hook calls --------------------------------------------------------------

    def map_record(self, name: str, record: SyncRecord) -> dict[str, Any]:
        """Ask plugin ``name`` to map a canonical record to its target's document."""
        payload = self._call(
            name, "crm_sync_map_record", context=self._contexts[name], record=record
        )
        if not isinstance(payload, dict):
            raise TypeError(f"plugin {name!r}: crm_sync_map_record must return a dict")
        return payload

    def push(self, name: str, documents: list[OutboundDocument]) -> list[PushResult]:
        """Ask plugin ``name`` to push documents; one result per document, in order."""
        results = self._call(
            name, "crm_sync_push", context=self._contexts[name], documents=documents
        )
        if not isinstance(results, list) or len(results) != len(documents):
            raise TypeError(
                f"plugin {name!r}: crm_sync_push must return one PushResult per document"
            )
        return cast(list[PushResult], results)

    def parse_webhook(
        self, name: str, headers: Mapping[str, str], body: bytes
    ) -> list[InboundEvent]:
        """Ask plugin ``name`` to verify and parse a webhook; it raises WebhookRejected."""
        events = self._call(
            name, "crm_sync_parse_webhook", context=self._contexts[name], headers=headers, body=body
        )
        if not isinstance(events, list):
            raise TypeError(f"plugin {name!r}: crm_sync_parse_webhook must return a list")
        return cast(list[InboundEvent], events)

    def verify_webhook(self, name: str, query: Mapping[str, str]) -> str | None:
        """Ask plugin ``name`` to answer a webhook URL check; None if it has no such hook."""
        if name not in self.implementers("crm_sync_verify_webhook"):
            return None
        answer = self._call(
            name, "crm_sync_verify_webhook", context=self._contexts[name], query=query
        )
        if not isinstance(answer, str):
            raise TypeError(f"plugin {name!r}: crm_sync_verify_webhook must return text")
        return answer

    def poll(self, name: str, cursor: str | None) -> PollResult:
        """Ask plugin ``name`` what changed in its target since ``cursor``."""
        result = self._call(name, "crm_sync_poll", context=self._contexts[name], cursor=cursor)
        if not isinstance(result, PollResult):
            raise TypeError(f"plugin {name!r}: crm_sync_poll must return a PollResult")
        return result

    def apply_inbound(self, name: str, event: InboundEvent) -> None:
        """Ask plugin ``name`` to apply one inbound event to the canonical records."""
        self._call(name, "crm_sync_apply_inbound", context=self._contexts[name], event=event)

    def document_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schemas of documents, by type, from every enabled plugin (sorted by name)."""
        schemas: dict[str, dict[str, Any]] = {}
        for name in self.names():
            found = self._call(name, "crm_sync_document_schemas", context=self._contexts[name])
            if isinstance(found, dict):
                schemas.update(found)
        return schemas

    def implementers(self, hook: str) -> list[str]:
        """The enabled plugins that implement ``hook``, in name order."""
        caller = getattr(self.pm.hook, hook)
        implementers = {impl.plugin_name for impl in caller.get_hookimpls()}
        return [name for name in self.names() if name in implementers]

    def call_each(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Call ``hook`` on every enabled plugin that implements it, in name order.

        Each plugin gets its own ``context`` beside ``kwargs``. Yields (plugin, answer),
        or (plugin, the exception it raised), so one broken plugin cannot stop the others;
        stop iterating to get first-result behaviour.
        """
        caller = getattr(self.pm.hook, hook)
        broadcast = not (caller.spec is not None and caller.spec.opts.get("firstresult"))
        for name in self.implementers(hook):
            try:
                answer = self._call(name, hook, context=self._contexts[name], **kwargs)
            except Exception as error:
                answer = error
            if broadcast and isinstance(answer, list):
                answer = answer[0] if answer else None
            yield name, answer

    def health(self, name: str) -> HealthReport:
        """Run plugin ``name``'s health check; a raising check counts as unhealthy."""
        try:
            report = self._call(name, "crm_sync_health", context=self._contexts[name])
        except Exception as error:  # a health check must never take the caller down
            return HealthReport(ok=False, detail=f"health check raised {error!r}")
        return report if isinstance(report, HealthReport) else HealthReport(ok=True, detail="")

    def close(self) -> None:
        """Close every plugin's HTTP client."""
        for context in self._contexts.values():
            context.http.close()


def hook_names() -> Iterable[str]:
    """Names of every hook in core/hookspecs.py."""
    return sorted(name for name in dir(hookspecs) if name.startswith("crm_sync_"))

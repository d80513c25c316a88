"""A plugin whose pushes a test scripts: succeed, raise, return per-document errors, block."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from core import (
    HealthReport,
    OutboundDocument,
    PluginContext,
    PluginDescription,
    PushResult,
    SyncRecord,
    hookimpl,
)

Action = BaseException | Callable[[list[OutboundDocument]], list[PushResult]]


class ScriptedPlugin:
    """Records every push; the next scripted action decides what a push does."""

    def __init__(self, subscriptions: tuple[str, ...] = ("customer",), max_batch: int = 1) -> None:
        self.subscriptions = subscriptions
        self.max_batch = max_batch
        self.script: deque[Action] = deque()
        self.pushes: list[list[OutboundDocument]] = []
        self.lock = threading.Lock()

    @property
    def documents(self) -> list[OutboundDocument]:
        """Every document pushed successfully, in order."""
        return [document for push in self.pushes for document in push]

    @hookimpl
    def crm_sync_describe(self, context: PluginContext) -> PluginDescription:
        return PluginDescription(self.subscriptions, target="scripted", max_batch=self.max_batch)

    @hookimpl
    def crm_sync_map_record(self, context: PluginContext, record: SyncRecord) -> dict[str, Any]:
        return {"name": getattr(record.data, "name", None), "version": record.version}

    @hookimpl
    def crm_sync_push(self, documents: list[OutboundDocument]) -> list[PushResult]:
        with self.lock:
            action = self.script.popleft() if self.script else None
        if isinstance(action, BaseException):
            raise action
        if action is not None:
            return action(documents)
        with self.lock:
            self.pushes.append(list(documents))
        return [PushResult(external_id=f"T-{document.id}") for document in documents]

    @hookimpl
    def crm_sync_health(self) -> HealthReport:
        return HealthReport(ok=True, detail="scripted")

"""A process's sync runtime: database, plugin host, broker, one actor per plugin.

Each plugin has its own queue, so a slow or broken target fills only its own queue;
a per-process limit on in-flight pushes per plugin keeps the worker threads free for
the others.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import dramatiq
import httpx
from dramatiq.brokers.stub import StubBroker

from core.db.engine import WalCheckpointer, create_db_engine
from core.plugins import PluginHost
from core.records import RecordAccess
from core.settings import Settings
from core.sync.engine import Outcome, Ref, SyncEngine
from core.sync.holds import UnreachableTargets
from core.sync.inbound import InboundEngine

log = logging.getLogger(__name__)

#: How long a message waits before it is tried again when its plugin is at its in-flight limit.
BUSY_DELAY_MS = 250
#: How long a worker thread waits for its plugin's in-flight limit before it gives the
#: message back: long enough to ride out a busy moment of a healthy target, short enough
#: that a stuck target does not hold the thread the other plugins need.
BUSY_WAIT_SECONDS = 0.05


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Build the broker ``settings.broker_url`` names, or the in-process one when unset."""
    url = settings.broker_url
    if url is None:
        return StubBroker()
    # Each broker's client library is imported only when it is the one configured: a
    # command that starts on Redis does not load RabbitMQ's, and the other way round.
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        namespace = f"{settings.queue_prefix}crm-sync"
        return RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, confirm_delivery=True)
    raise ValueError(f"broker_url must start with redis:// or amqp://, not {url.split(':')[0]}://")


def process_name() -> str:
    """A name for this process, unique across machines: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class SyncRuntime:
    """Everything one crm-sync process needs to queue and push documents."""

    def __init__(
        self,
        settings: Settings,
        *,
        extra_plugins: Mapping[str, object] | None = None,
        load_entry_points: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.engine = create_db_engine(
            settings.resolved_database_url,
            pool_size=settings.worker_threads + 2,
            autocheckpoint=False,
        )
        self.checkpointer = WalCheckpointer(self.engine)
        self.host = PluginHost(
            settings,
            extra_plugins=extra_plugins,
            load_entry_points=load_entry_points,
            transport=transport,
        )
        self.sync_engine = (
            self.engine
            if self.engine.dialect.name == "sqlite"
            else create_db_engine(
                settings.resolved_database_url, pool_size=settings.worker_threads + 2, durable=False
            )
        )
        log_attempts = settings.console.attempts_per_delivery > 0
        self.sync = SyncEngine(
            self.sync_engine, self.host, settings.sync, log_attempts=log_attempts
        )
        self.unreachable = UnreachableTargets(
            settings.sync.min_backoff_seconds, settings.sync.unreachable_hold_seconds
        )
        self.inbound = InboundEngine(
            self.engine, self.host, settings.sync, log_attempts=log_attempts
        )
        for plugin in self.host.names():
            self.host.context(plugin).records = RecordAccess(
                self.engine, plugin, self.host.subscribers, self.dispatch, host=self.host
            )
        self.broker = make_broker(settings)
        self.actors: dict[str, Any] = {}
        self.inbound_actors: dict[str, Any] = {}
        for plugin in self.host.active():
            # Both kinds of job hold a lease: one must not outlive it, or the sweeper
            # hands the same work to a second worker while the first still runs.
            options = {
                "max_retries": 20,
                "min_backoff": 1000,
                "max_backoff": 300_000,
                "time_limit": int(settings.sync.lease_seconds * 1000),
            }
            self.actors[plugin] = dramatiq.Actor(
                self._handler(plugin),
                broker=self.broker,
                actor_name=f"crm_sync_{plugin}",
                queue_name=self.queue_name(plugin),
                priority=0,
                options=options,
            )
            self.inbound_actors[plugin] = dramatiq.Actor(
                self._inbound_handler(plugin),
                broker=self.broker,
                actor_name=f"crm_sync_inbound_{plugin}",
                queue_name=self.queue_name(plugin),
                priority=0,
                options=options,
            )
        self.checkpointer.start()

    def queue_name(self, plugin: str) -> str:
        """The queue of ``plugin``'s sync messages."""
        return f"{self.settings.queue_prefix}crm_sync.{plugin}"

    def _handler(self, plugin: str) -> Any:
        def sync(refs: list[list[str]]) -> None:
            self.handle(plugin, [(kind, record_id) for kind, record_id in refs])

        sync.__name__ = f"sync_{plugin}"
        return sync

    def _inbound_handler(self, plugin: str) -> Any:
        def apply(ids: list[int]) -> None:
            limit = self.host.inflight(plugin)
            if not limit.acquire(timeout=BUSY_WAIT_SECONDS):
                self.dispatch_inbound(plugin, ids, delay_seconds=BUSY_DELAY_MS / 1000)
                return
            try:
                outcome = self.inbound.process(plugin, ids)
            finally:
                limit.release()
            if outcome.retry:
                self.dispatch_inbound(plugin, outcome.retry, delay_seconds=outcome.retry_delay)

        apply.__name__ = f"inbound_{plugin}"
        return apply

    def dispatch_inbound(
        self, plugin: str, ids: Sequence[int], *, delay_seconds: float = 0.0
    ) -> bool:
        """Send a message to apply stored inbound events; False if the broker refused.

        As with deliveries, a lost message loses nothing: the sweeper re-sends due events.
        """
        actor = self.inbound_actors.get(plugin)
        if actor is None or not ids:
            return False
        try:
            actor.send_with_options(args=(list(ids),), delay=int(delay_seconds * 1000) or None)
        except Exception:
            log.exception("could not enqueue %d %s inbound events", len(ids), plugin)
            return False
        return True

    def handle(self, plugin: str, refs: Sequence[Ref]) -> None:
        """Run one message: push what is due, then queue follow-ups and retries.

        A database error propagates, so Dramatiq's Retries middleware tries the message
        again; everything about the target is decided and recorded by the engine.
        """
        held = self.unreachable.held_for(plugin, time.monotonic())
        if held > 0:
            self.dispatch(plugin, refs, delay_seconds=held)
            return
        limit = self.host.inflight(plugin)
        if not limit.acquire(timeout=BUSY_WAIT_SECONDS):
            self.dispatch(plugin, refs, delay_seconds=BUSY_DELAY_MS / 1000)
            return
        try:
            outcome = self.sync.process(plugin, refs)
        finally:
            limit.release()
        self._note_reachability(plugin, outcome)
        if outcome.again:
            self.dispatch(plugin, outcome.again)
        if outcome.retry:
            self.dispatch(plugin, outcome.retry, delay_seconds=outcome.retry_delay)

    def _note_reachability(self, plugin: str, outcome: Outcome) -> None:
        """Hold ``plugin``'s sends while its target cannot be reached (:mod:`core.sync.holds`)."""
        if outcome.unreachable:
            hold = self.unreachable.failed(plugin, time.monotonic())
            if hold is not None:
                log.warning(
                    "%s: its target cannot be reached; its sends wait %.1f s before the next try",
                    plugin,
                    hold.seconds,
                )
        elif outcome.pushed and self.unreachable.reached(plugin):
            log.warning("%s: its target answers again; sending resumes", plugin)

    def dispatch(self, plugin: str, refs: Sequence[Ref], *, delay_seconds: float = 0.0) -> bool:
        """Send messages for ``refs`` on ``plugin``'s queue; False if the broker refused.

        A failed send loses nothing: the rows are still due in the database and the
        sweeper sends them again.
        """
        actor = self.actors.get(plugin)
        if actor is None or not refs:
            return False
        size = max(1, min(self.settings.sync.batch_size, self.host.description(plugin).max_batch))
        delay = int(delay_seconds * 1000) or None
        try:
            for start in range(0, len(refs), size):
                chunk = [list(ref) for ref in refs[start : start + size]]
                actor.send_with_options(args=(chunk,), delay=delay)
        except Exception:
            log.exception("could not enqueue %d %s deliveries; the sweeper will", len(refs), plugin)
            return False
        return True

    def queue_depth(self, plugin: str) -> int | None:
        """Messages waiting (or in progress) on ``plugin``'s queue, or None if unknown.

        The sweeper uses it to avoid piling copies onto a queue nobody is consuming.
        """
        queue = self.queue_name(plugin)
        broker: Any = self.broker
        # A broker's module is loaded if one of its brokers exists (see make_broker).
        redis = sys.modules.get("dramatiq.brokers.redis")
        rabbitmq = sys.modules.get("dramatiq.brokers.rabbitmq")
        try:
            if redis is not None and isinstance(broker, redis.RedisBroker):
                return int(broker.client.hlen(f"{broker.namespace}:{queue}.msgs"))
            if rabbitmq is not None and isinstance(broker, rabbitmq.RabbitmqBroker):
                return int(broker.get_queue_message_counts(queue)[0])
            if isinstance(broker, StubBroker):
                return int(broker.queues[queue].qsize())
        except Exception:
            log.debug("could not read the depth of queue %s", queue, exc_info=True)
        return None

    def close(self) -> None:
        """Release the broker, the plugins' HTTP clients and the database pool."""
        self.checkpointer.stop()
        self.broker.close()
        self.host.close()
        self.engine.dispose()
        self.sync_engine.dispose()

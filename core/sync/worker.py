"""``crm-sync worker``: Dramatiq worker processes under a small supervisor.

The supervisor starts N processes with M threads each, restarts one that dies (a
SIGKILL, an out-of-memory kill) and runs the sweeper. Any number of supervisors can
run on any number of machines: the broker spreads the messages and the database
leases keep every push single.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

import dramatiq

from core.admin.snapshots import Maintenance
from core.db.migrate import check_schema
from core.errors import ConfigurationError
from core.settings import load_settings
from core.sync.metrics import MULTIPROCESS_ENV
from core.sync.runtime import SyncRuntime
from core.sync.sweeper import Sweeper

log = logging.getLogger(__name__)

#: Seconds a stopping worker gets to finish its messages before it is killed.
STOP_TIMEOUT = 30


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_worker_process(threads: int, log_level: str = "INFO") -> None:
    """Run one worker process until SIGTERM: consume every plugin's queue with ``threads``."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    runtime = SyncRuntime(load_settings(worker_threads=threads))
    check_schema(runtime.engine)
    worker = dramatiq.Worker(runtime.broker, worker_threads=threads)
    worker.start()
    log.info("worker process ready: %d threads on %s", threads, sorted(runtime.actors))
    stop.wait()
    worker.stop(timeout=STOP_TIMEOUT * 1000)
    runtime.close()


class MetricsExporter:
    """The worker processes' work metrics, summed, at ``http://HOST:PORT/metrics``.

    The processes run in prometheus_client's multiprocess mode with ``folder`` as
    ``PROMETHEUS_MULTIPROC_DIR`` (see :mod:`core.sync.metrics`); this serves the sum of
    what they wrote there. Port 0 picks a free one (``port`` tells which).
    """

    def __init__(self, folder: Path, host: str, port: int) -> None:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
        try:
            self.server, self.thread = start_http_server(port, addr=host, registry=registry)
        except OSError as error:
            raise ConfigurationError(
                f"worker metrics cannot listen on {host}:{port} ({error.strerror or error}); "
                "pass another --metrics-port, or -1 for none"
            ) from None
        self.port = int(self.server.server_port)

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Supervisor:
    """Keeps ``processes`` worker processes alive and sweeps while it holds the lease.

    With ``metrics_port`` (None: no exporter) it serves the processes' work metrics
    on ``metrics_host`` (:class:`MetricsExporter`).
    """

    def __init__(
        self,
        processes: int,
        threads: int,
        log_level: str = "INFO",
        *,
        metrics_host: str = "127.0.0.1",
        metrics_port: int | None = None,
    ) -> None:
        self.processes = processes
        self.threads = threads
        self.log_level = log_level
        self.metrics_host = metrics_host
        self.metrics_port = metrics_port
        self.context = multiprocessing.get_context("spawn")
        self.children: list[BaseProcess] = []
        self.stop = threading.Event()

    def _start_child(self) -> BaseProcess:
        child = self.context.Process(
            target=run_worker_process, args=(self.threads, self.log_level), name="crm-sync-worker"
        )
        child.start()
        return child

    def run(self) -> None:
        """Start the children and the sweeper; restart children that die; stop on SIGTERM."""
        folder = Path(tempfile.mkdtemp(prefix="crm-sync-metrics-"))
        exporter = None
        try:
            if self.metrics_port is not None:
                exporter = MetricsExporter(folder, self.metrics_host, self.metrics_port)
                log.info("worker metrics on http://%s:%d/metrics", self.metrics_host, exporter.port)
            os.environ[MULTIPROCESS_ENV] = str(folder)  # the children inherit it at spawn
            _stop_on_signals(self.stop)
            self._supervise()
        finally:
            if exporter is not None:
                exporter.stop()
            shutil.rmtree(folder, ignore_errors=True)

    def _supervise(self) -> None:
        runtime = SyncRuntime(load_settings())
        check_schema(runtime.engine)
        sweeper = Sweeper(runtime)
        sweeper.start()
        maintenance = Maintenance(runtime)
        maintenance.start()
        self.children = [self._start_child() for _ in range(self.processes)]
        log.info("supervising %d worker processes", self.processes)
        while not self.stop.wait(1.0):
            for index, child in enumerate(self.children):
                if not child.is_alive():
                    log.warning(
                        "worker process %s ended with %s; restarting it", child.pid, child.exitcode
                    )
                    self.children[index] = self._start_child()
        sweeper.stop()
        maintenance.stop()
        for child in self.children:
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
        runtime.close()

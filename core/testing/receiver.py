"""A real HTTP receiver on loopback that stands in for a finance or warehouse system.

It verifies Standard Webhooks signatures (or, built without a secret, takes unsigned
JSON as a plain JSON target would), stores each document once per idempotency key,
answers single documents and batches (JSON arrays) the way a well-behaved target does,
and can be told to misbehave (fail N times with a status and ``Retry-After``, throttle,
stall past the client's timeout, refuse ids, hold requests) so tests and integrators can
watch crm-sync recover. Every request is recorded as an ``Attempt`` with its status,
idempotency keys and content type. It runs in a thread (``Receiver``), or as a separate
process (``python -m core.testing.receiver``, driven by ``RemoteReceiver``). The two share
their reads and controls through ``ReceiverControls``; ``Receiver`` and ``ReceiverProcess``
share starting and stopping through ``Served``.

Over 600 lines because the thread receiver, its HTTP twin for other processes and the
child-process runner share one set of records and faults and must change together.
"""

# Longer than 600 lines: the receiver, its faults and its process mode are one tool,
# run as one module (``python -m core.testing.receiver``).

from __future__ import annotations

import argparse
import contextlib
import json
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

JSONObject = dict[str, Any]

CONTROL_PATH = "/_control"
DELIVERIES_PATH = "/_deliveries"
COUNTERS_PATH = "/_counters"
RESET_PATH = "/_reset"
DEFAULT_REASON = "refused by the test receiver"


@dataclass(frozen=True)
class Delivery:
    """One document the receiver accepted and stored (duplicates are not stored again)."""

    type: str
    id: str
    version: int
    idempotency_key: str
    external_id: str
    received_at: float
    path: str
    webhook_id: str
    document: JSONObject

    @property
    def data(self) -> Any:
        """The document's ``data`` member, the record as the target sees it."""
        return self.document["data"]

    def to_json(self) -> JSONObject:
        """Return this delivery as a JSON object, the form ``GET /_deliveries`` returns."""
        return {
            "type": self.type,
            "id": self.id,
            "version": self.version,
            "idempotency_key": self.idempotency_key,
            "external_id": self.external_id,
            "received_at": self.received_at,
            "path": self.path,
            "webhook_id": self.webhook_id,
            "document": self.document,
        }

    @classmethod
    def from_json(cls, raw: JSONObject) -> Delivery:
        """Rebuild a delivery from the JSON object ``to_json`` made."""
        return cls(
            type=raw["type"],
            id=raw["id"],
            version=raw["version"],
            idempotency_key=raw["idempotency_key"],
            external_id=raw["external_id"],
            received_at=raw["received_at"],
            path=raw["path"],
            webhook_id=raw["webhook_id"],
            document=raw["document"],
        )


@dataclass(frozen=True)
class Attempt:
    """One document request as it arrived, whatever the answer: tests read retry timing here.

    ``keys`` are the idempotency keys it carried (the ``Idempotency-Key`` header, or each
    document's ``idempotency_key`` in a batch), ``content_type`` its header, ``is_json``
    whether the body parsed as JSON and ``signed`` whether a valid signature came with it.
    """

    received_at: float
    path: str
    status: int
    ids: tuple[str, ...]
    keys: tuple[str, ...] = ()
    content_type: str = ""
    is_json: bool = False
    signed: bool = False

    def to_json(self) -> JSONObject:
        """Return this attempt as a JSON object."""
        return {
            "received_at": self.received_at,
            "path": self.path,
            "status": self.status,
            "ids": list(self.ids),
            "keys": list(self.keys),
            "content_type": self.content_type,
            "is_json": self.is_json,
            "signed": self.signed,
        }

    @classmethod
    def from_json(cls, raw: JSONObject) -> Attempt:
        """Rebuild an attempt from the JSON object ``to_json`` made."""
        return cls(
            received_at=raw["received_at"],
            path=raw["path"],
            status=raw["status"],
            ids=tuple(raw["ids"]),
            keys=tuple(raw.get("keys", ())),
            content_type=raw.get("content_type", ""),
            is_json=bool(raw.get("is_json", False)),
            signed=bool(raw.get("signed", False)),
        )


#: Called after each document request is answered, with its attempt and the documents
#: it stored (none for a refusal or a duplicate): ``crm-sync receiver`` prints them.
AttemptListener = Callable[[Attempt, list[Delivery]], None]


@dataclass(frozen=True)
class Counters:
    """What the receiver has seen so far, cheap to fetch while waiting."""

    requests: int
    """Document requests received, whatever the answer."""
    accepted: int
    """Documents stored (first time their idempotency key was seen)."""
    duplicates: int
    """Documents whose idempotency key was already stored: answered 200, not stored."""
    rejected: int
    """Requests refused with 401 because the signature was missing or wrong."""
    unprocessable: int
    """Documents answered 422 (invalid shape or an id the test told it to refuse)."""
    faulted: int
    """Requests answered by an injected status fault (``fail`` or ``throttle``)."""
    held: int
    """Requests currently held by ``hold``."""
    connections: int
    """TCP connections accepted; stays low when clients keep connections alive."""

    def to_json(self) -> JSONObject:
        """Return these counters as a JSON object."""
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "unprocessable": self.unprocessable,
            "faulted": self.faulted,
            "held": self.held,
            "connections": self.connections,
        }

    @classmethod
    def from_json(cls, raw: JSONObject) -> Counters:
        """Rebuild counters from the JSON object ``to_json`` made."""
        return cls(**{name: int(raw[name]) for name in cls.__dataclass_fields__})


@dataclass
class _StatusFault:
    status: int
    remaining: int | None
    retry_after: int | None
    reason: str = "injected fault"


@dataclass
class _DelayFault:
    seconds: float
    remaining: int | None


def _take(remaining: int | None) -> tuple[bool, int | None]:
    """Use one shot of a fault: whether it applies now and how many shots are left."""
    if remaining is None:
        return True, None
    if remaining <= 0:
        return False, 0
    return True, remaining - 1


def _document_problem(document: object) -> str | None:
    """Why ``document`` is not a valid crm-sync document, or None when it is."""
    if not isinstance(document, dict):
        return "a document must be a JSON object"
    for field, kind in (("type", str), ("id", str), ("version", int), ("occurred_at", str)):
        value = document.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"field '{field}' must be a {'string' if kind is str else 'integer'}"
    if not isinstance(document.get("data"), dict):
        return "field 'data' must be an object"
    return None


def _document_ids(payload: object) -> tuple[str, ...]:
    """The ids of the documents in a parsed body, best effort, for the attempt log."""
    items = payload if isinstance(payload, list) else [payload]
    return tuple(str(item["id"]) for item in items if isinstance(item, dict) and "id" in item)


def _document_keys(payload: object, header: str | None) -> tuple[str, ...]:
    """The idempotency keys a request carried: the header, or each batch member's own."""
    if isinstance(payload, list):
        return tuple(
            str(item["idempotency_key"])
            for item in payload
            if isinstance(item, dict) and item.get("idempotency_key")
        )
    return (header,) if header else ()


def _loose_problem(document: object) -> str | None:
    """Why ``document`` cannot be stored by a receiver that takes any JSON object."""
    return None if isinstance(document, dict) else "a document must be a JSON object"


class _State:
    """Everything a receiver records and every fault it is told to inject, behind one lock."""

    def __init__(
        self,
        secret: str | None,
        external_id_prefix: str,
        envelope: bool = True,
        listener: AttemptListener | None = None,
    ) -> None:
        self.webhook = Webhook(secret) if secret is not None else None
        self.external_id_prefix = external_id_prefix
        self.problem = _document_problem if envelope else _loose_problem
        self.listener = listener
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.released = threading.Event()
        self.released.set()
        self.stopping = threading.Event()
        self._clear_records()
        self._clear_faults()
        self.connections = 0
        self.held = 0

    def _clear_records(self) -> None:
        self.deliveries: list[Delivery] = []
        self.attempts: list[Attempt] = []
        self.by_key: dict[str, Delivery] = {}
        self.requests = 0
        self.duplicates = 0
        self.rejected = 0
        self.unprocessable = 0
        self.faulted = 0

    def _clear_faults(self) -> None:
        self.status_fault: _StatusFault | None = None
        self.delay_fault: _DelayFault | None = None
        self.reject_reasons: dict[str, str] = {}
        self.released.set()

    def counters(self) -> Counters:
        with self.lock:
            return Counters(
                requests=self.requests,
                accepted=len(self.deliveries),
                duplicates=self.duplicates,
                rejected=self.rejected,
                unprocessable=self.unprocessable,
                faulted=self.faulted,
                held=self.held,
                connections=self.connections,
            )

    def snapshot(self) -> JSONObject:
        with self.lock:
            deliveries = list(self.deliveries)
            attempts = list(self.attempts)
        return {
            "counters": self.counters().to_json(),
            "deliveries": [delivery.to_json() for delivery in deliveries],
            "attempts": [attempt.to_json() for attempt in attempts],
        }

    def reset(self) -> None:
        with self.lock:
            self._clear_records()
            self._clear_faults()
            self.changed.notify_all()

    def clear_faults(self) -> None:
        with self.lock:
            self._clear_faults()

    def fail(
        self,
        status: int,
        count: int | None,
        retry_after: int | None = None,
        reason: str | None = None,
    ) -> None:
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code, not {status}")
        with self.lock:
            self.status_fault = _StatusFault(status, count, retry_after, reason or "injected fault")

    def delay(self, seconds: float, count: int | None) -> None:
        with self.lock:
            self.delay_fault = _DelayFault(seconds, count)

    def reject(self, ids: Iterable[str], reason: str) -> None:
        with self.lock:
            self.reject_reasons.update(dict.fromkeys(ids, reason))

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def apply_control(self, command: object) -> None:
        """Apply one ``POST /_control`` command; raise ValueError when it is malformed."""
        if not isinstance(command, dict):
            raise ValueError("a control command must be a JSON object")
        action = command.get("action")
        try:
            if action == "fail":
                self.fail(
                    int(command["status"]),
                    _optional_int(command.get("count")),
                    _optional_int(command.get("retry_after")),
                    command.get("reason") and str(command["reason"]),
                )
            elif action == "throttle":
                self.fail(429, _optional_int(command.get("count")), int(command["retry_after"]))
            elif action == "delay":
                self.delay(float(command["seconds"]), _optional_int(command.get("count")))
            elif action == "reject":
                ids = command["ids"]
                if not isinstance(ids, list):
                    raise ValueError("'ids' must be a list of document ids")
                self.reject([str(i) for i in ids], str(command.get("reason", DEFAULT_REASON)))
            elif action == "hold":
                self.hold()
            elif action == "release":
                self.release()
            elif action == "clear":
                self.clear_faults()
            else:
                raise ValueError(f"unknown action {action!r}")
        except (KeyError, TypeError) as exc:
            raise ValueError(f"action {action!r} is missing or has a bad argument: {exc}") from exc

    def wait_released(self) -> None:
        """Hold the calling request until ``release`` (or until the receiver stops)."""
        with self.lock:
            self.held += 1
            self.changed.notify_all()
        try:
            self.released.wait()
        finally:
            with self.lock:
                self.held -= 1
                self.changed.notify_all()

    def take_delay(self) -> float:
        with self.lock:
            fault = self.delay_fault
            if fault is None:
                return 0.0
            applies, fault.remaining = _take(fault.remaining)
            return fault.seconds if applies else 0.0

    def take_status_fault(self) -> _StatusFault | None:
        with self.lock:
            fault = self.status_fault
            if fault is None:
                return None
            applies, fault.remaining = _take(fault.remaining)
            if not applies:
                return None
            self.faulted += 1
            return fault

    def record_attempt(self, attempt: Attempt, stored: list[Delivery]) -> None:
        with self.lock:
            self.requests += 1
            self.attempts.append(attempt)
            if attempt.status == 401:
                self.rejected += 1
        if self.listener is not None:
            self.listener(attempt, stored)

    def accept(
        self, document: object, key: object, path: str, webhook_id: str, received_at: float
    ) -> tuple[int, JSONObject, Delivery | None]:
        """Store one document unless it is invalid, refused or a duplicate; return the answer.

        The third member is the delivery stored now (None when nothing new was stored).
        """
        problem = self.problem(document)
        with self.lock:
            if problem is not None or not isinstance(document, dict):
                self.unprocessable += 1
                return 422, {"error": problem}, None
            reason = self.reject_reasons.get(str(document.get("id", "")))
            if reason is not None:
                self.unprocessable += 1
                return 422, {"error": reason}, None
            if not isinstance(key, str) or not key:
                return 400, {"error": "the document has no idempotency key"}, None
            stored = self.by_key.get(key)
            if stored is not None:
                self.duplicates += 1
                return 200, {"external_id": stored.external_id}, None
            version = document.get("version")
            delivery = Delivery(
                type=str(document.get("type", "")),
                id=str(document.get("id", "")),
                version=version if isinstance(version, int) else 0,
                idempotency_key=key,
                external_id=f"{self.external_id_prefix}-{document.get('id', len(self.by_key))}",
                received_at=received_at,
                path=path,
                webhook_id=webhook_id,
                document=document,
            )
            self.deliveries.append(delivery)
            self.by_key[key] = delivery
            self.changed.notify_all()
            return 200, {"external_id": delivery.external_id}, delivery


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections so ``stop`` can cut them."""

    daemon_threads = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        with self.state.lock:
            self.state.connections += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Close every open connection, as a target that goes down would."""
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Answers document requests and the ``/_`` control endpoints over keep-alive HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: thousands of requests a second would flood the test output."""

    def _answer(
        self, status: int, payload: object, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._answer(411, {"error": "send the body with a Content-Length"})
            return None
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        """Serve the recorded deliveries (``/_deliveries``) or just the counters."""
        path = self.path.split("?", 1)[0]
        if path == DELIVERIES_PATH:
            self._answer(200, self.server.state.snapshot())
        elif path == COUNTERS_PATH:
            self._answer(200, self.server.state.counters().to_json())
        else:
            self._answer(404, {"error": f"no such endpoint: GET {path}"})

    def do_POST(self) -> None:
        """Take a document or a batch, or a ``/_control`` or ``/_reset`` command."""
        body = self._read_body()
        if body is None:
            return
        path = self.path.split("?", 1)[0]
        if path == CONTROL_PATH:
            self._control(body)
        elif path == RESET_PATH:
            self.server.state.reset()
            self._answer(200, {"ok": True})
        elif path.startswith("/_"):
            self._answer(404, {"error": f"no such endpoint: POST {path}"})
        else:
            self._documents(path, body)

    def _control(self, body: bytes) -> None:
        try:
            self.server.state.apply_control(json.loads(body))
        except ValueError as exc:
            self._answer(400, {"error": str(exc)})
            return
        self._answer(200, {"ok": True})

    def _documents(self, path: str, body: bytes) -> None:
        state = self.server.state
        received_at = time.time()
        if not state.released.is_set():
            state.wait_released()
        seconds = state.take_delay()
        if seconds:
            state.stopping.wait(seconds)
        if state.stopping.is_set():
            self.close_connection = True
            return
        try:
            payload: object = json.loads(body)
            parsed = True
        except ValueError:
            payload, parsed = None, False
        header_key = self.headers.get("Idempotency-Key")

        def attempt(status: int, signed: bool) -> Attempt:
            return Attempt(
                received_at,
                path,
                status,
                _document_ids(payload),
                _document_keys(payload, header_key),
                self.headers.get("Content-Type", ""),
                parsed,
                signed,
            )

        fault = state.take_status_fault()
        if fault is not None:
            state.record_attempt(attempt(fault.status, False), [])
            retry = [] if fault.retry_after is None else [("Retry-After", str(fault.retry_after))]
            self._answer(fault.status, {"error": fault.reason}, retry)
            return
        signed = False
        if state.webhook is not None:
            headers = {name: value for name, value in self.headers.items()}
            try:
                state.webhook.verify(body, headers, json_parse=False)
            except (WebhookVerificationError, ValueError) as exc:
                state.record_attempt(attempt(401, False), [])
                self._answer(401, {"error": f"signature rejected: {exc}"})
                return
            signed = True
        webhook_id = self.headers.get("webhook-id", "")
        if isinstance(payload, list):
            results, stored = [], []
            for document in payload:
                key = document.get("idempotency_key") if isinstance(document, dict) else None
                status, answer, new = state.accept(document, key, path, webhook_id, received_at)
                results.append({"status": status, **answer})
                stored.extend([new] if new is not None else [])
            state.record_attempt(attempt(200, signed), stored)
            self._answer(200, results)
        elif not parsed:
            state.record_attempt(attempt(400, signed), [])
            self._answer(400, {"error": "the body is not JSON"})
        else:
            status, answer, new = state.accept(payload, header_key, path, webhook_id, received_at)
            state.record_attempt(attempt(status, signed), [new] if new is not None else [])
            self._answer(status, answer)


def _latest(deliveries: Iterable[Delivery], type_: str, id_: str) -> Delivery | None:
    found = None
    for delivery in deliveries:
        if delivery.type == type_ and delivery.id == id_:
            found = delivery
    return found


def _wait(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


class ReceiverControls(ABC):
    """What a test reads from a receiver and tells it, alike for one here and one elsewhere.

    A kind of receiver supplies its records (``deliveries``, ``attempts``, ``counters``),
    its two waits, ``reset`` and ``_control``, which applies one control command (the JSON
    object ``POST /_control`` takes, so both kinds check commands the same way); every
    other method is built on those.
    """

    @property
    @abstractmethod
    def deliveries(self) -> list[Delivery]:
        """Every stored document, in the order they arrived."""

    @property
    @abstractmethod
    def attempts(self) -> list[Attempt]:
        """Every document request, in the order they arrived, with the status answered."""

    @property
    @abstractmethod
    def counters(self) -> Counters:
        """The receiver's counters (requests, duplicates, rejections, ...)."""

    @abstractmethod
    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until at least ``count`` documents are stored; raise TimeoutError if not in time."""

    @abstractmethod
    def wait_for_request(self, timeout: float = 10.0) -> bool:
        """Wait until a request is being held by ``hold``; False when none arrived in time."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every record and counter and remove every fault; held requests go on."""

    @abstractmethod
    def _control(self, command: JSONObject) -> None:
        """Apply one control command; raise ValueError when the receiver refuses it."""

    def latest(self, type_: str, id_: str) -> Delivery | None:
        """The last stored delivery of one record, or None when none arrived."""
        return _latest(self.deliveries, type_, id_)

    def versions(self, type_: str, id_: str) -> list[int]:
        """The versions of one record stored, in arrival order."""
        return [d.version for d in self.deliveries if d.type == type_ and d.id == id_]

    def fail(
        self,
        status: int,
        count: int | None = None,
        retry_after: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Answer ``status`` to the next ``count`` requests (None: until ``clear_faults``).

        With ``retry_after`` the answers carry ``Retry-After: retry_after`` (seconds); the
        body is ``{"error": reason}`` (``"injected fault"`` by default).
        """
        command = {"action": "fail", "status": status, "count": count}
        self._control({**command, "retry_after": retry_after, "reason": reason})

    def stall(self, seconds: float, count: int | None = None) -> None:
        """Answer the next ``count`` requests only after ``seconds``: past a client's timeout."""
        self.delay(seconds, count)

    def throttle(self, retry_after: int, count: int | None = None) -> None:
        """Answer 429 with ``Retry-After: retry_after`` to the next ``count`` requests."""
        self._control({"action": "throttle", "retry_after": retry_after, "count": count})

    def delay(self, seconds: float, count: int | None = None) -> None:
        """Wait ``seconds`` before handling each of the next ``count`` requests."""
        self._control({"action": "delay", "seconds": seconds, "count": count})

    def reject(self, ids: Iterable[str], reason: str = DEFAULT_REASON) -> None:
        """Answer 422 with ``reason`` for documents with these ids, until ``clear_faults``."""
        self._control({"action": "reject", "ids": list(ids), "reason": reason})

    def hold(self) -> None:
        """Hold every document request until ``release``; see ``wait_for_request``."""
        self._control({"action": "hold"})

    def release(self) -> None:
        """Let held requests go on; they are then handled as usual."""
        self._control({"action": "release"})

    def clear_faults(self) -> None:
        """Remove every injected fault and release held requests; records stay."""
        self._control({"action": "clear"})


class Served(ABC):
    """A receiver that is started and stopped, and used as ``with ... as receiver:``."""

    @abstractmethod
    def start(self) -> Self:
        """Start serving; return the receiver."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving (nothing happens when it is not serving)."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Receiver(ReceiverControls, Served):
    """A signature-checking document receiver served from a thread of this process.

    ``with Receiver(secret="whsec_...") as receiver:`` starts it on a free loopback port;
    ``receiver.url`` is where to send documents. ``stop()`` then ``start()`` brings it back
    on the same port with its records intact, to play a target that was down for a while.

    ``Receiver(None)`` takes unsigned requests, as a plain JSON target does; with
    ``envelope=False`` it stores any JSON object, not only crm-sync's signed documents
    (``type``, ``id`` and ``version`` are then read from the object when it has them).
    ``on_attempt`` is called after each document request is answered.
    """

    def __init__(
        self,
        secret: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        external_id_prefix: str = "ext",
        envelope: bool = True,
        on_attempt: AttemptListener | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._state = _State(secret, external_id_prefix, envelope, on_attempt)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL documents are POSTed to (any path not starting with ``/_`` works)."""
        if self.port == 0:
            raise RuntimeError("the receiver has not been started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the receiver is serving right now."""
        return self._server is not None

    def start(self) -> Self:
        """Bind the port (the same one after a restart) and serve from a daemon thread."""
        if self._server is not None:
            return self
        self._state.stopping.clear()
        self._server = _Server((self.host, self.port), self._state)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"receiver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection; held or delayed requests get no answer."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._state.stopping.set()
        self._state.release()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        thread.join()
        self._server = None
        self._thread = None

    @property
    def deliveries(self) -> list[Delivery]:
        """Every stored document, in the order they arrived."""
        with self._state.lock:
            return list(self._state.deliveries)

    @property
    def attempts(self) -> list[Attempt]:
        """Every document request, in the order they arrived, with the status answered."""
        with self._state.lock:
            return list(self._state.attempts)

    @property
    def counters(self) -> Counters:
        """The receiver's counters (requests, duplicates, rejections, ...)."""
        return self._state.counters()

    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until at least ``count`` documents are stored; raise TimeoutError if not in time."""
        state = self._state
        with state.changed:
            if not state.changed.wait_for(lambda: len(state.deliveries) >= count, timeout):
                raise TimeoutError(
                    f"{len(state.deliveries)} of {count} documents arrived in {timeout} s"
                )
            return list(state.deliveries)

    def wait_for_request(self, timeout: float = 10.0) -> bool:
        """Wait until a request is being held by ``hold``; False when none arrived in time."""
        state = self._state
        with state.changed:
            return state.changed.wait_for(lambda: state.held > 0, timeout)

    def reset(self) -> None:
        """Forget every record and counter and remove every fault; held requests go on."""
        self._state.reset()

    def _control(self, command: JSONObject) -> None:
        """Apply a control command to this receiver's state directly."""
        self._state.apply_control(command)


class RemoteReceiver(ReceiverControls):
    """Reads and drives a receiver running elsewhere (another process) over its HTTP API."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _get(self, path: str) -> Any:
        response = self._http.get(path)
        response.raise_for_status()
        return response.json()

    def _control(self, command: JSONObject) -> None:
        """Send a control command to the receiver's ``POST /_control``."""
        self._post(CONTROL_PATH, command)

    def _post(self, path: str, command: JSONObject) -> None:
        response = self._http.post(path, json=command)
        if response.status_code != 200:
            raise ValueError(f"the receiver refused {command}: {response.text}")

    @property
    def deliveries(self) -> list[Delivery]:
        """Every stored document, in the order they arrived."""
        return [Delivery.from_json(raw) for raw in self._get(DELIVERIES_PATH)["deliveries"]]

    @property
    def attempts(self) -> list[Attempt]:
        """Every document request, in the order they arrived, with the status answered."""
        return [Attempt.from_json(raw) for raw in self._get(DELIVERIES_PATH)["attempts"]]

    @property
    def counters(self) -> Counters:
        """The receiver's counters (requests, duplicates, rejections, ...)."""
        return Counters.from_json(self._get(COUNTERS_PATH))

    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until at least ``count`` documents are stored; raise TimeoutError if not in time."""
        if not _wait(lambda: self.counters.accepted >= count, timeout, interval=0.05):
            raise TimeoutError(f"{self.counters.accepted} of {count} documents arrived")
        return self.deliveries

    def wait_for_request(self, timeout: float = 10.0) -> bool:
        """Wait until a request is being held by ``hold``; False when none arrived in time."""
        return _wait(lambda: self.counters.held > 0, timeout)

    def reset(self) -> None:
        """Forget every record and counter and remove every fault; held requests go on."""
        self._post(RESET_PATH, {})


class ReceiverProcess(Served):
    """Runs ``python -m core.testing.receiver`` as a child process, for tests and benchmarks.

    A receiver in its own process does not share the GIL with the workers under test, and
    it survives what the test does to them. ``remote`` drives it. ``secret=None`` and
    ``envelope=False`` work as for ``Receiver``.
    """

    def __init__(
        self,
        secret: str | None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        external_id_prefix: str = "ext",
        startup_timeout: float = 15.0,
        envelope: bool = True,
    ) -> None:
        self._command = [
            sys.executable, "-m", "core.testing.receiver",
            "--host", host, "--port", str(port),
            "--external-id-prefix", external_id_prefix,
            *(["--secret", secret] if secret is not None else []),
            *([] if envelope else ["--any-json"]),
        ]  # fmt: skip
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._remote: RemoteReceiver | None = None

    @property
    def url(self) -> str:
        """The base URL the child process serves."""
        return self.remote.url

    @property
    def remote(self) -> RemoteReceiver:
        """The client that reads and drives the child process."""
        if self._remote is None:
            raise RuntimeError("the receiver process has not been started")
        return self._remote

    @property
    def pid(self) -> int:
        """The child process id."""
        if self._process is None:
            raise RuntimeError("the receiver process has not been started")
        return self._process.pid

    def start(self) -> Self:
        """Start the child and wait for the URL it prints on its first line."""
        process = subprocess.Popen(self._command, stdout=subprocess.PIPE, text=True)
        self._process = process
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], self._startup_timeout)
        line = process.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the receiver process did not start: {line!r}")
        self._remote = RemoteReceiver(line)
        return self

    def stop(self) -> None:
        """Send SIGTERM, wait for the child to end (SIGKILL after 10 s) and close its pipe."""
        if self._remote is not None:
            self._remote.close()
            self._remote = None
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def main(argv: list[str] | None = None) -> int:
    """Serve a receiver until SIGTERM or SIGINT; print its URL on the first stdout line."""
    parser = argparse.ArgumentParser(
        prog="python -m core.testing.receiver",
        description="A loopback receiver for crm-sync's signed documents, for tests and trials.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--secret", help="the shared whsec_... secret; without it, requests are not verified"
    )
    parser.add_argument(
        "--any-json", action="store_true", help="store any JSON object, not only documents"
    )
    parser.add_argument("--external-id-prefix", default="ext")
    args = parser.parse_args(argv)
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    receiver = Receiver(
        args.secret,
        host=args.host,
        port=args.port,
        external_id_prefix=args.external_id_prefix,
        envelope=not args.any_json,
    )
    with receiver:
        print(receiver.url, flush=True)
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A test double of the WhatsApp Cloud API's Graph endpoints, served on loopback.

What Meta's reference documents, and only that: ``POST /{version}/{phone-number-id}/messages``
(bearer token; ``text`` and ``template`` messages; the answer
``{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id"}]}``),
``GET /{version}/{media-id}`` (a short-lived URL with ``mime_type``, ``sha256``,
``file_size``) and the bytes behind that URL (bearer token again). Errors are answered
in Meta's shape, ``{"error": {"message", "type", "code", "error_data": {"details"},
"fbtrace_id"}}``: a wrong token is 401 with code 190, a malformed message 400 with code
100. A test makes it misbehave: ``fail`` answers the next calls with a given error code,
``stall`` accepts the next messages but holds their answers past the client's timeout
(the message went out; its answer is lost), both for any request or only for those to
one number (``to=``); ``hold_until_accepted_by`` holds every answer until another
double has accepted a message; ``observe`` calls a test's function with every request
as it arrives, before its answer.

    with CloudApi(token="EAAG...") as api:
        settings = {"graph_url": api.graph_url, "access_token": "EAAG...", ...}
        ...
        assert api.sent[0].body["text"]["body"] == "سلام"
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

VERSION = "v24.0"

#: HTTP status Meta answers each error code with (400 unless listed).
_HTTP_STATUS = {0: 401, 190: 401, 4: 429, 80007: 429, 130429: 429, 131056: 429, 1: 500, 2: 503}
_TITLES = {
    0: "AuthException",
    1: "API Unknown",
    2: "API Service",
    4: "API Too Many Calls",
    100: "Invalid parameter",
    190: "Access token has expired",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "Meta chose not to deliver",
    131050: "User stopped marketing messages",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match",
    132001: "Template does not exist",
}


@dataclass(frozen=True)
class SentMessage:
    """One message the double accepted: its wamid, the body and when it came."""

    wamid: str
    body: dict[str, Any]
    received_at: float


@dataclass
class _Fault:
    code: int
    remaining: int
    details: str
    #: Only requests to this number (``to`` as sent); None: any request.
    to: str | None = None


@dataclass
class _Stall:
    seconds: float
    remaining: int
    to: str | None = None


@dataclass
class _State:
    token: str
    sent: list[SentMessage] = field(default_factory=list)
    attempts: int = 0
    faults: list[_Fault] = field(default_factory=list)
    stalls: list[_Stall] = field(default_factory=list)
    observers: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    accepted: threading.Event = field(default_factory=threading.Event)
    hold_until: threading.Event | None = None
    hold_at_most: float = 0.0
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    media_faults: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def meta_error(code: int, details: str | None = None) -> dict[str, Any]:
    """An error body in Meta's shape for ``code``."""
    title = _TITLES.get(code, "Error")
    return {
        "error": {
            "message": f"(#{code}) {title}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or title},
            "fbtrace_id": "AbCdEf0123456789",
        }
    }


def _message_problem(body: Any) -> str | None:
    """Why a send request is malformed (Meta's code 100), or None."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return "messaging_product must be 'whatsapp'"
    if not isinstance(body.get("to"), str) or not re.fullmatch(r"\+?[0-9]{6,15}", body["to"]):
        return "to must be a phone number"
    kind = body.get("type", "text")
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
            return "text.body is required"
        if len(text["body"]) > 4096:
            return "text.body is longer than 4096 characters"
        return None
    if kind == "template":
        template = body.get("template")
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            return "template.name is required"
        language = template.get("language")
        if not isinstance(language, dict) or not isinstance(language.get("code"), str):
            return "template.language.code is required"
        return None
    return f"type {kind!r} is not supported by this double"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the double's state, not its log."""

    def _answer(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        expected = f"Bearer {self.server.state.token}"
        if self.headers.get("authorization") != expected:
            self._answer(401, meta_error(190, "Error validating access token"))
            return False
        return True

    def do_POST(self) -> None:
        """Send a message: ``/{version}/{phone-number-id}/messages``."""
        state = self.server.state
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        if not re.fullmatch(rf"/{VERSION}/[0-9]+/messages", self.path):
            self._answer(404, meta_error(100, "Unknown path"))
            return
        with state.lock:
            state.attempts += 1
        if not self._authorised():
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        to = body.get("to") if isinstance(body, dict) else None
        for observer in list(state.observers):
            observer(body if isinstance(body, dict) else {})
        with state.lock:
            fault = next((f for f in state.faults if f.to in (None, to)), None)
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    state.faults.remove(fault)
        if fault is not None:
            self._answer(_HTTP_STATUS.get(fault.code, 400), meta_error(fault.code, fault.details))
            return
        if body is None:
            self._answer(400, meta_error(100, "the body is not JSON"))
            return
        problem = _message_problem(body)
        if problem is not None:
            self._answer(400, meta_error(100, problem))
            return
        with state.lock:
            number = next(state.serial)
            digest = hashlib.sha256(f"{number}".encode()).digest()[:24]
            wamid = "wamid." + base64.b64encode(digest).decode()
            state.sent.append(SentMessage(wamid, body, time.time()))
        state.accepted.set()
        if state.hold_until is not None:
            state.hold_until.wait(state.hold_at_most)
        with state.lock:
            stall = next((s for s in state.stalls if s.to in (None, to)), None)
            if stall is not None:
                stall.remaining -= 1
                if stall.remaining <= 0:
                    state.stalls.remove(stall)
        if stall is not None:
            time.sleep(stall.seconds)
        self._answer(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"].lstrip("+")}],
                "messages": [{"id": wamid}],
            },
        )

    def do_GET(self) -> None:
        """A media id's URL (``/{version}/{media-id}``) or the bytes behind it (``/_media/``)."""
        state = self.server.state
        if not self._authorised():
            return
        found = re.fullmatch(rf"/{VERSION}/([0-9]+)", self.path)
        if found is not None:
            media = state.media.get(found.group(1))
            if media is None:
                self._answer(400, meta_error(100, "Unsupported get request"))
                return
            data, mime = media
            self._answer(
                200,
                {
                    "messaging_product": "whatsapp",
                    "url": f"{self.server.base_url}/_media/{found.group(1)}?ext=1",
                    "mime_type": mime,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "file_size": len(data),
                    "id": found.group(1),
                },
            )
            return
        found = re.fullmatch(r"/_media/([0-9]+)\?ext=1", self.path)
        media = state.media.get(found.group(1)) if found is not None else None
        if media is None:
            self._answer(404, meta_error(100, "no such media"))
            return
        with state.lock:
            failing = state.media_faults > 0
            if failing:
                state.media_faults -= 1
        if failing:
            self._answer(500, meta_error(131016))
            return
        self._answer(200, media[0], media[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: Room for every connection a batch opens at once (the default of 5 resets some).
    request_queue_size = 256

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"


class CloudApi:
    """The double, running in a thread; use it as a context manager."""

    def __init__(self, token: str) -> None:
        self._state = _State(token=token)
        self._server = _Server(self._state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def graph_url(self) -> str:
        """The Graph API base with its version, for the plugin's ``graph_url``."""
        return f"{self._server.base_url}/{VERSION}"

    @property
    def sent(self) -> list[SentMessage]:
        """Every message accepted so far, in order."""
        with self._state.lock:
            return list(self._state.sent)

    @property
    def attempts(self) -> int:
        """How many send requests arrived (accepted or not)."""
        with self._state.lock:
            return self._state.attempts

    def fail(
        self, code: int, count: int = 1, details: str | None = None, *, to: str | None = None
    ) -> None:
        """Answer the next ``count`` send requests (those to ``to`` if given) with ``code``."""
        words = details or _TITLES.get(code, "Error")
        with self._state.lock:
            self._state.faults.append(_Fault(code, count, words, to))

    def stall(self, seconds: float, count: int = 1, *, to: str | None = None) -> None:
        """Accept the next ``count`` messages (to ``to`` if given) but answer ``seconds`` later."""
        with self._state.lock:
            self._state.stalls.append(_Stall(seconds, count, to))

    def observe(self, observer: Callable[[dict[str, Any]], None]) -> None:
        """Call ``observer`` with each send request's body as it arrives, before any answer.

        For a test that checks what was true when a request reached Meta: it runs in
        the double's thread, so what it reads is what the request found.
        """
        with self._state.lock:
            self._state.observers.append(observer)

    def hold_until_accepted_by(self, other: CloudApi, at_most: float) -> None:
        """Accept messages but hold each answer until ``other`` has accepted one.

        For a test that needs two workers, each with its own double, to both send: while
        the first holds its answers, its worker threads wait, so the rest of the work
        is left to the other worker. ``at_most`` seconds bound each hold.
        """
        with self._state.lock:
            self._state.hold_until = other._state.accepted
            self._state.hold_at_most = at_most

    def add_media(self, media_id: str, data: bytes, mime_type: str, failures: int = 0) -> None:
        """Serve ``data`` as media ``media_id``; the first ``failures`` downloads answer 500."""
        with self._state.lock:
            self._state.media[media_id] = (data, mime_type)
            self._state.media_faults = failures


__all__ = ["VERSION", "CloudApi", "SentMessage", "meta_error"]

"""Error classes: a short name for the kind of an error, to group and filter failures by.

The engine stores the class of each failure next to its message (``sync_state`` and the
attempts log), so the dead list groups by ``http-422`` or ``timeout`` without parsing
messages at query time. The class comes from the error's type where it says enough
(a mapping error, a hold) and otherwise from the message crm-sync's HTTP layer wrote
(``HTTP 422 from ...``, ``timed out: ...``), which also classifies stored messages.
"""

from __future__ import annotations

import re

from core.errors import (
    HoldSending,
    MappingError,
    RateLimited,
    SyncError,
    TransientError,
    WaitingFor,
)

HELD = "held"
MAPPING = "mapping"
TIMEOUT = "timeout"
CONNECTION = "connection"
PLUGIN = "plugin"
MISSING = "missing-record"
CRASH = "worker-crash"
REJECTED = "rejected"
TRANSIENT = "transient"
#: A delivery waiting on a rate limit, or on another plugin's document
#: (``waiting-<plugin>`` names that plugin).
WAITING = "waiting"

#: Every class but ``http-NNN``, in the order the console lists them.
NAMED = (TIMEOUT, CONNECTION, MAPPING, MISSING, PLUGIN, CRASH, HELD, WAITING, REJECTED, TRANSIENT)

_HTTP = re.compile(r"^HTTP (\d{3})\b")
_GAVE_UP = re.compile(r"^gave up after \d+ attempts: ")
_WAITING = re.compile(r"^waiting on ([a-z]+):")
_PATTERN = re.compile(r"^(http-\d{3}|[a-z]+(-[a-z]+)?)$")


def error_class(error: SyncError) -> str:
    """The class of an error a plugin raised or the engine made."""
    if isinstance(error, HoldSending):
        return HELD
    if isinstance(error, RateLimited):
        return WAITING
    if isinstance(error, MappingError):
        return MAPPING
    if isinstance(error, WaitingFor):
        return waiting_class(error.plugin)
    return message_class(str(error), transient=isinstance(error, TransientError))


def message_class(message: str, *, transient: bool = False) -> str:
    """The class of a stored error message; ``transient`` for a retryable error of no class."""
    text = _GAVE_UP.sub("", message, count=1)
    if text.startswith("held: "):
        return HELD
    waiting = _WAITING.match(text)
    if waiting:
        return waiting_class(waiting.group(1))
    if text.startswith("waiting: "):
        return WAITING
    found = _HTTP.match(text)
    if found:
        return f"http-{found.group(1)}"
    if text.startswith("timed out"):
        return TIMEOUT
    if text.startswith("connection failed"):
        return CONNECTION
    if text.startswith("mapping failed"):
        return MAPPING
    if text.startswith("plugin error"):
        return PLUGIN
    if text.startswith("the worker stopped"):
        return CRASH
    if text.endswith("does not exist"):
        return MISSING
    return TRANSIENT if transient else REJECTED


def waiting_class(plugin: str) -> str:
    """``waiting-<plugin>``, or ``waiting`` for a plugin name a class cannot hold."""
    return f"{WAITING}-{plugin}" if re.fullmatch(r"[a-z]+", plugin) else WAITING


def waiting_on(error_class: str | None) -> str | None:
    """The plugin a delivery of class ``error_class`` waits on, None when it is not waiting."""
    if error_class is None or not error_class.startswith(f"{WAITING}-"):
        return None
    return error_class.removeprefix(f"{WAITING}-")


def valid_class(value: str) -> bool:
    """Whether ``value`` looks like an error class (for filters typed by people)."""
    return bool(_PATTERN.match(value))

"""Holding a plugin's sends while its target cannot be reached, in this process.

A target that refuses connections fails every push the same way, and each attempt still
costs its claim and its outcome: two writes, which on the embedded SQLite default wait
for the API's writes and make them wait. So once a push finds its plugin's target
unreachable, this process sends none of that plugin's messages for a while: it sends
them again with a delay, and their deliveries stay due and unleased with no attempt
spent. The wait starts at ``sync.min_backoff_seconds`` and doubles with each probe that
fails, up to ``sync.unreachable_hold_seconds`` (0: never hold); the first push that
reaches the target ends it. Each process learns on its own (at most one round of probes
per process and wait), so nothing is shared and a restart forgets nothing that matters:
the deliveries themselves are in the database, failed with error class ``connection``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Hold:
    """Until when (``time.monotonic()`` seconds) a plugin's sends wait, and how long it was."""

    until: float
    seconds: float


class UnreachableTargets:
    """The plugins of this process whose target could not be reached, and their holds."""

    def __init__(self, first_seconds: float, longest_seconds: float) -> None:
        self.first_seconds = min(first_seconds, longest_seconds)
        self.longest_seconds = longest_seconds
        self._holds: dict[str, Hold] = {}
        self._lock = threading.Lock()

    def held_for(self, plugin: str, now: float) -> float:
        """Seconds ``plugin``'s sends still wait (0: send now; a probe once a hold ran out)."""
        hold = self._holds.get(plugin)
        return 0.0 if hold is None else max(0.0, hold.until - now)

    def failed(self, plugin: str, now: float) -> Hold | None:
        """Hold ``plugin`` after a push found its target unreachable; the new hold, if any.

        Pushes that were already running when the hold began fail too: only a failure
        after the hold ran out (a failed probe) makes the next one longer, so a burst of
        failures at once does not double the wait for each of them.
        """
        if self.longest_seconds <= 0:
            return None
        with self._lock:
            hold = self._holds.get(plugin)
            if hold is not None and now < hold.until:
                return None
            seconds = self.first_seconds
            if hold is not None:
                seconds = min(hold.seconds * 2, self.longest_seconds)
            self._holds[plugin] = Hold(until=now + seconds, seconds=seconds)
            return self._holds[plugin]

    def reached(self, plugin: str) -> bool:
        """End ``plugin``'s hold: a push reached its target. True if it was held."""
        with self._lock:
            return self._holds.pop(plugin, None) is not None

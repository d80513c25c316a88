"""Browser sessions: sign-in with an API token, a session cookie, a CSRF token per session.

The cookie holds 32 random bytes; the database keeps only their SHA-256, with who signed
in (the token's name and role), the session's CSRF token and when it expires. Every
request checks that the token that signed in is still configured with the same role,
so removing a token from the settings signs its sessions out.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from core.api.auth import Principal, TokenVerifier
from core.db.admin_tables import WebSession
from core.db.engine import reading
from core.db.types import utcnow

#: A session's expiry moves forward at most this often (one write per person per minute).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Session:
    """A signed-in browser."""

    principal: Principal
    csrf: str
    expires_at: datetime
    hashed: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SessionStore:
    """Creates, finds and ends sessions in the ``web_sessions`` table."""

    def __init__(self, engine: Engine, verifier: TokenVerifier, lifetime: timedelta) -> None:
        self.engine = engine
        self.verifier = verifier
        self.lifetime = lifetime

    def create(self, principal: Principal, source: str) -> tuple[str, Session]:
        """Start a session; return the cookie value (shown to nobody else) and the session."""
        value = secrets.token_urlsafe(32)
        now = utcnow()
        session = Session(principal, secrets.token_urlsafe(32), now + self.lifetime, _hash(value))
        with self.engine.begin() as connection:
            connection.execute(
                insert(WebSession).values(
                    id_hash=session.hashed,
                    principal=principal.name,
                    role=principal.role,
                    csrf=session.csrf,
                    source=source[:256],
                    created_at=now,
                    seen_at=now,
                    expires_at=session.expires_at,
                )
            )
        return value, session

    def find(self, value: str | None) -> Session | None:
        """The live session of a cookie value, or None (unknown, expired, token removed)."""
        if not value or len(value) > 128:
            return None
        hashed = _hash(value)
        with reading(self.engine) as connection:
            row = connection.execute(
                select(
                    WebSession.principal,
                    WebSession.role,
                    WebSession.csrf,
                    WebSession.seen_at,
                    WebSession.expires_at,
                ).where(WebSession.id_hash == hashed)
            ).first()
        now = utcnow()
        if row is None or row.expires_at <= now:
            return None
        principal = self.verifier.by_name(row.principal)
        if principal is None or principal.role != row.role:
            return None
        expires = row.expires_at
        if now - row.seen_at >= TOUCH_EVERY:
            expires = now + self.lifetime
            with self.engine.begin() as connection:
                connection.execute(
                    update(WebSession)
                    .where(WebSession.id_hash == hashed)
                    .values(seen_at=now, expires_at=expires)
                )
        return Session(principal, row.csrf, expires, hashed)

    def end(self, session: Session) -> None:
        """Sign a session out."""
        with self.engine.begin() as connection:
            connection.execute(delete(WebSession).where(WebSession.id_hash == session.hashed))


class SignInThrottle:
    """Refuses sign-in from an address after too many failures in a window (in memory)."""

    def __init__(self, failures: int = 10, window: float = 300.0) -> None:
        self.failures = failures
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, source: str) -> bool:
        """Whether ``source`` failed too often lately."""
        with self._lock:
            seen = self._seen.get(source)
            if not seen:
                return False
            cutoff = time.monotonic() - self.window
            while seen and seen[0] < cutoff:
                seen.popleft()
            return len(seen) >= self.failures

    def failed(self, source: str) -> None:
        """Count a failed sign-in from ``source``."""
        with self._lock:
            self._seen.setdefault(source, deque()).append(time.monotonic())
            if len(self._seen) > 10_000:
                self._seen.pop(next(iter(self._seen)))

"""Bearer-token authentication with four roles: admin, operator, writer, reader."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from pydantic import SecretStr

from core.api.problems import Problem
from core.settings import ApiToken, Role, Settings

#: The roles each role includes: ``writer`` adds writing records to ``reader``,
#: ``operator`` adds retrying and pausing deliveries, ``admin`` has them all.
ALLOWS: dict[Role, frozenset[Role]] = {
    "reader": frozenset({"reader"}),
    "writer": frozenset({"writer", "reader"}),
    "operator": frozenset({"operator", "reader"}),
    "admin": frozenset({"admin", "operator", "writer", "reader"}),
}
TOKEN_FILE = "admin-token"  # noqa: S105 (a file name, not a secret)


@dataclass(frozen=True)
class Principal:
    """Who made a request: the token's name and role."""

    name: str
    role: Role


def ensure_admin_token(settings: Settings) -> tuple[str, bool]:
    """Return the data folder's admin token, creating it (mode 0600) if needed.

    Used only when no token is configured, so a first run is never left open. The
    boolean says whether the token was created now (and should be shown once).
    """
    path = Path(settings.data_dir) / TOKEN_FILE
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return token, True


def configured_tokens(settings: Settings) -> list[ApiToken]:
    """The tokens the API accepts: the configured ones, else the data folder's admin token."""
    if settings.api_tokens:
        return list(settings.api_tokens)
    token, _ = ensure_admin_token(settings)
    return [ApiToken(name="admin", role="admin", token=SecretStr(token))]


class TokenVerifier:
    """Checks a bearer token against the accepted ones in constant time."""

    def __init__(self, tokens: list[ApiToken]) -> None:
        self.tokens = [
            (t.token.get_secret_value().encode(), Principal(t.name, t.role)) for t in tokens
        ]

    def by_name(self, name: str) -> Principal | None:
        """The principal of the configured token named ``name``, or None."""
        for _, principal in self.tokens:
            if principal.name == name:
                return principal
        return None

    def verify(self, presented: str) -> Principal | None:
        """Return the principal of a presented token, or None."""
        found = None
        candidate = presented.encode()
        for secret, principal in self.tokens:
            if hmac.compare_digest(secret, candidate):
                found = principal
        return found


def allows(role: Role, needed: Role) -> bool:
    """Whether a token with ``role`` may do what needs ``needed``."""
    return needed in ALLOWS[role]


def require(role: Role) -> Callable[[Request], Principal]:
    """A FastAPI dependency that admits requests whose token has at least ``role``."""

    def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Problem(
                401,
                "unauthorized",
                "a bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        verifier: TokenVerifier = request.app.state.verifier
        principal = verifier.verify(presented.strip())
        if principal is None:
            raise Problem(
                401,
                "unauthorized",
                "the bearer token is not valid",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if not allows(principal.role, role):
            raise Problem(
                403, "forbidden", f"this needs the {role} role; the token has {principal.role}"
            )
        return principal

    return dependency

"""Short retries in place around an ERP client's login, with tenacity.

Logging in is idempotent, and a refused or reset connection or a 5xx (a server
restarting, a proxy between two upstreams) often passes within a second, so a client
tries again at once a few times before the failure goes back to the sync engine's
backoff. A timeout is not tried again here (the server is slow, and each try would cost
a whole timeout of the delivery's lease), nor a ``Retry-After`` longer than a moment,
nor a permanent error: those are the job's to retry, later.
"""

from __future__ import annotations

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.errors import TransientError

#: Tries at logging in before a transient failure is left to the job's own retry.
LOGIN_ATTEMPTS = 3
#: Longest ``Retry-After`` worth waiting for in place; a longer one is the job's to honour.
LOGIN_RETRY_MAX_WAIT = 2.0


def retry_login_in_place(error: BaseException) -> bool:
    """Whether a failed login is worth trying again at once (see the module docstring)."""
    if not isinstance(error, TransientError):
        return False
    if isinstance(error.__cause__, httpx.TimeoutException):
        return False
    return error.retry_after is None or error.retry_after <= LOGIN_RETRY_MAX_WAIT


def login_retrying() -> Retrying:
    """A tenacity loop for one login: up to three tries, 0.1 s then 0.2 s apart."""
    return Retrying(
        retry=retry_if_exception(retry_login_in_place),
        stop=stop_after_attempt(LOGIN_ATTEMPTS),
        wait=wait_exponential(multiplier=0.1, max=LOGIN_RETRY_MAX_WAIT),
        reraise=True,
    )

"""Errors the ERP backends share, for plugins to tell "not yet" from "wrong".

A backend that needs a document another plugin creates in the ERP (the sale the finance
plugin makes from a pro-forma) raises :class:`SaleNotReady`. It is transient, so a plugin
that does nothing with it still retries; a plugin that knows which plugin makes the sale
turns it into :class:`core.WaitingFor`, which spends no attempts.
"""

from __future__ import annotations

from core.errors import TransientError


class SaleNotReady(TransientError):
    """The ERP has no confirmed sale for these CRM references yet."""


__all__ = ["SaleNotReady"]

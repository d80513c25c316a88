"""Fixtures of the Tryton room tests: a real throwaway trytond and the rooms on it."""

from __future__ import annotations

import pytest

from core.testing.tryton import (
    TEMPLATE_ACCOUNT_CATEGORY,
    TEMPLATE_PAYMENT_TERM,
    tryton_client,
    tryton_server,
    tryton_template,
)
from erp.tryton import Tryton, TrytonClient

__all__ = ["erp", "tryton_client", "tryton_server", "tryton_template"]


@pytest.fixture
def erp(tryton_client: TrytonClient) -> Tryton:
    return Tryton(
        tryton_client,
        account_category=TEMPLATE_ACCOUNT_CATEGORY,
        payment_term=TEMPLATE_PAYMENT_TERM,
    )

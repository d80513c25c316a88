"""Fixtures for the testing-kit tests: the real throwaway Tryton server of core.testing.tryton."""

from core.testing.tryton import tryton_client, tryton_server, tryton_template

__all__ = ["tryton_client", "tryton_server", "tryton_template"]

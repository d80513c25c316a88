"""Test-suite set-up: the project's own pytest plugins (fixtures, browser) and pytester."""

pytest_plugins = ["core.testing.fixtures", "core.testing.browser", "pytester"]

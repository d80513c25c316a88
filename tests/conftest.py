"""Test-suite set-up: the project's own pytest plugin and pytester, nothing else."""

pytest_plugins = ["core.testing.fixtures", "pytester"]

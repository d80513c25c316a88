"""Test-suite set-up: the project's own pytest plugins (fixtures, browser) and pytester.

pytest-xdist's workers inherit ``COLUMNS=80``; a rich console created at import would
freeze that width, so the command-line tests that set their own width through the
environment would see tables cut at 80 columns only when run in parallel.
"""

import os

os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

pytest_plugins = ["core.testing.fixtures", "core.testing.browser", "pytester"]

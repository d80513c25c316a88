#!/usr/bin/env bash
# The project's test command: install crm-sync with its test extra into .venv (created
# if missing, from $PYTHON or python3, 3.11 or newer), then lint, type-check and run
# pytest. Arguments are passed to pytest. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv/bin/python ]]; then
    python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "test.sh: crm-sync needs Python 3.11 or newer; set PYTHON to one" >&2
        exit 1
    fi
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/mypy core plugins lead_scoring

status=0
.venv/bin/pytest "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "test.sh: pytest collected no tests, which counts as a failure" >&2
fi
exit "$status"

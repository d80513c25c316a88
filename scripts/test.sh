#!/usr/bin/env bash
# The project's test command: install crm-sync with its test extra into .venv (created
# if missing, from $PYTHON or python3, 3.11 or newer), then lint, type-check and run
# pytest, spread over one worker process per core (CRM_SYNC_TEST_WORKERS sets another
# number; 0 runs in this process). Arguments are passed to pytest. Exits non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
ensure_venv test

.venv/bin/ruff check .
.venv/bin/mypy core erp plugins lead_scoring kpis

status=0
.venv/bin/pytest -n "${CRM_SYNC_TEST_WORKERS:-auto}" "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "test.sh: pytest collected no tests, which counts as a failure" >&2
fi
exit "$status"

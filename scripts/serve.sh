#!/usr/bin/env bash
# Quick start: install crm-sync into .venv (created if missing, from $PYTHON or python3,
# 3.11 or newer) and run `crm-sync serve` on the embedded default: a SQLite file and an
# in-process broker in ./crm-sync-data. Arguments are passed to `crm-sync serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv/bin/python ]]; then
    python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "serve.sh: crm-sync needs Python 3.11 or newer; set PYTHON to one" >&2
        exit 1
    fi
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/crm-sync serve "$@"

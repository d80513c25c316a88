#!/usr/bin/env bash
# Quick start: install crm-sync into .venv (created if missing, from $PYTHON or python3,
# 3.11 or newer) and run `crm-sync serve` on the embedded default: a SQLite file and an
# in-process broker in ./crm-sync-data. Arguments are passed to `crm-sync serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
ensure_venv
exec .venv/bin/crm-sync serve "$@"

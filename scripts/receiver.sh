#!/usr/bin/env bash
# Quick start: install crm-sync into .venv (created if missing, from $PYTHON or python3,
# 3.11 or newer) and run `crm-sync receiver`, a signed-webhook target on this machine that
# prints and acknowledges what it gets. Arguments are passed to `crm-sync receiver`.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
ensure_venv
exec .venv/bin/crm-sync receiver "$@"

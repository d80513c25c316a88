#!/usr/bin/env bash
# Install Tryton 8.2 (server and the modules the finance, inventory and production plugins
# use) into the project's environment, then build the cached test database template, so
# tests that need a real ERP can run. Safe to run again: pip and the template cache make a
# second run take a few seconds.
#
# Usage: scripts/setup-tryton.sh [--no-template]
#   --no-template  only install; the first test that needs Tryton builds the template
#                  (building it needs crm-sync itself installed, as scripts/test.sh does)
#   PYTHON   interpreter to install into (default: .venv/bin/python, created if missing)
#   CRM_SYNC_TRYTON_CACHE   where the template database is cached
#                           (default: ~/.cache/crm-sync/tryton)
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ ! -x .venv/bin/python ]]; then
        python3 -m venv .venv
    fi
    PYTHON=.venv/bin/python
fi

requirements=(
    "trytond>=8.2,<8.3"
    "trytond-party>=8.2,<8.3"
    "trytond-product>=8.2,<8.3"
    "trytond-company>=8.2,<8.3"
    "trytond-currency>=8.2,<8.3"
    "trytond-sale>=8.2,<8.3"
    "trytond-sale-discount>=8.2,<8.3"
    "trytond-stock>=8.2,<8.3"
    "trytond-production>=8.2,<8.3"
    "trytond-sale-supply-production>=8.2,<8.3"
    "trytond-account>=8.2,<8.3"
    "trytond-account-invoice>=8.2,<8.3"
)

started=$SECONDS
"$PYTHON" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
echo "setup-tryton: modules installed in $((SECONDS - started)) s"

if [[ "${1:-}" != "--no-template" ]]; then
    started=$SECONDS
    "$PYTHON" -c 'from core.testing.tryton import build_template; print(build_template())'
    echo "setup-tryton: template ready in $((SECONDS - started)) s"
fi

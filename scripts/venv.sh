# Sourced by the other scripts: make sure .venv exists, created from $PYTHON or python3
# (3.11 or newer), and install crm-sync into it with the extras named in $1 (if any).
ensure_venv() {
    if [[ ! -x .venv/bin/python ]]; then
        local python="${PYTHON:-python3}"
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "crm-sync needs Python 3.11 or newer; set PYTHON to one" >&2
            exit 1
        fi
        "$python" -m venv .venv
    fi
    local target="."
    if [[ -n "${1:-}" ]]; then
        target=".[$1]"
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
}

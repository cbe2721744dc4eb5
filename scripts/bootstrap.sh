#!/usr/bin/env bash
# Makes a fresh clone runnable: a virtualenv with the package and its dev tools, and Azurite from npm.
# Re-running is cheap: it reinstalls only when pyproject.toml or the Azurite lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "messagehandler needs Python >= 3.11")'

if [ ! -x .venv/bin/python ]; then
    echo "== creating the virtualenv .venv ($("$python" --version))"
    "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "== installing messagehandler-azure (editable) with every extra and the dev tools into .venv"
    echo "   (the first time takes a few minutes: the Azure SDKs, pytest, mypy, ruff, mkdocs)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    # One line per package as pip resolves it, so a long first install shows what it is doing.
    .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -e ".[dev]" 2>&1 \
        | { grep --line-buffered -E '^(Collecting|Successfully installed|ERROR|error)' || true; }
    rm -f .venv/.installed-*
    touch "$stamp"
fi

lock_stamp="azurite/node_modules/.installed-$(cat azurite/package-lock.json | sha256sum | cut -c1-16)"
if [ ! -f "$lock_stamp" ]; then
    echo "== installing the Azurite storage emulator from npm into azurite/node_modules (pinned in azurite/package-lock.json)"
    (cd azurite && npm ci --no-audit --no-fund --loglevel=error)
    touch "$lock_stamp"
fi

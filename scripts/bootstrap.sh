#!/usr/bin/env bash
# Makes a fresh clone runnable: a virtualenv with the package and its dev tools, and Azurite from npm.
# Re-running is cheap: it reinstalls only when pyproject.toml or the Azurite lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "messagehandler needs Python >= 3.11")'

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi

lock_stamp="azurite/node_modules/.installed-$(cat azurite/package-lock.json | sha256sum | cut -c1-16)"
if [ ! -f "$lock_stamp" ]; then
    (cd azurite && npm ci --no-audit --no-fund --loglevel=error)
    touch "$lock_stamp"
fi

#!/usr/bin/env bash
# Everything CI checks: the test suite (Azurite included) and its coverage floor, mypy --strict, ruff, and the docs build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy --strict messagehandler
echo "== docs (mkdocs --strict)"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
echo "== pytest"
.venv/bin/python -m pytest --cov --cov-report=term "$@"
if [ $# -eq 0 ]; then
    echo "== coverage floor (each module, statements and branches)"
    .venv/bin/python scripts/coverage_floor.py
fi

#!/usr/bin/env bash
# The main job: the organization sample, end to end against a local Azurite that it starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m samples.organization "$@"

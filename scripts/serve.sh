#!/usr/bin/env bash
# Sets up .venv and runs the server; arguments go to `selkies_trio serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
exec .venv/bin/python -m selkies_trio serve "$@"

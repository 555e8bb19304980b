#!/usr/bin/env bash
# Creates .venv beside the checkout and installs the package (editable) with
# the named extras. Cheap when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
[ -x .venv/bin/python ] || python3 -m venv .venv
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"

#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine, then runs
# the linters, the type checker and the whole suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v chromium >/dev/null || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
command -v xdpyinfo >/dev/null || missing+=(x11-utils)
command -v pulseaudio >/dev/null || missing+=(pulseaudio)
command -v parec >/dev/null || missing+=(pulseaudio-utils)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash scripts/venv.sh test
. .venv/bin/activate

ruff check .
mypy
python -m pytest "$@"

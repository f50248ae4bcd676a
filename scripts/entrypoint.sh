#!/usr/bin/env bash
# Container entry point: `web` (migrate + scripts/serve.sh: gunicorn with uvicorn
# workers on $PORT, $WEB_CONCURRENCY of them) or `worker` (celery), or any command.
set -euo pipefail
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    export HOST="${HOST:-0.0.0.0}"
    exec /app/scripts/serve.sh
    ;;
  worker)
    exec celery -A vframe_search worker --loglevel=INFO --concurrency="${VFRAME_WORKER_CONCURRENCY:-2}"
    ;;
  *)
    exec "$@"
    ;;
esac

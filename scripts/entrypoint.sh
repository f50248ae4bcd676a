#!/usr/bin/env bash
# Container entry point: `web` (migrate + daphne) or `worker` (celery), or any command.
set -euo pipefail
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    exec daphne -b 0.0.0.0 -p 8000 vframe_search.asgi:application
    ;;
  worker)
    exec celery -A vframe_search worker --loglevel=INFO --concurrency="${VFRAME_WORKER_CONCURRENCY:-2}"
    ;;
  *)
    exec "$@"
    ;;
esac

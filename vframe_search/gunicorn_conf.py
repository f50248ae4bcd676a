"""gunicorn's configuration for ``scripts/serve.sh``: uvicorn workers serving the ASGI app.

Every worker is a process with its own event loop that serves HTTP and websockets
(Channels) alike, so N workers use N cores. Read from the environment:

- ``PORT`` (default 8000) and ``HOST`` (default 127.0.0.1; the container sets 0.0.0.0);
- ``WEB_CONCURRENCY``: worker processes (default: see :func:`default_workers`);
- ``VFRAME_PRELOAD`` (default on): import the app and load the default feature's index
  in the master before forking, so the workers share those pages copy-on-write instead
  of each holding a copy (see :mod:`vframe_search.serving`);
- ``VFRAME_WEB_TIMEOUT`` (default 60 s): a worker silent for this long is restarted.

A bad value stops start-up with the variable's name, like the settings do.
"""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured

from vframe_search.env import env_bool, env_int


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(n_cores: int, *, redis: bool) -> int:
    """Two workers per core: a search spends part of its time waiting on the database
    and on the socket, and a second process fills that time; more only adds memory.
    One without Redis: the embedded defaults keep live updates, in-process tasks and
    rate-limit counters in one process's memory."""
    return max(2, 2 * n_cores) if redis else 1


def _port() -> int:
    port = env_int("PORT", 8000, minimum=1)
    if port > 65535:
        raise ImproperlyConfigured(f"PORT: must be at most 65535, got {port}")
    return port


bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{_port()}"
_redis = bool((os.environ.get("REDIS_URL") or "").strip())
workers = env_int("WEB_CONCURRENCY", default_workers(cores(), redis=_redis), minimum=1)
if workers > 1 and not _redis:
    print(
        f"WEB_CONCURRENCY={workers} without REDIS_URL: each worker has its own in-memory channel layer, "
        "task pool and rate-limit counters, so a websocket hears only the tasks its own worker started",
        file=sys.stderr,
    )
worker_class = "vframe_search.serving.Worker"
preload_app = env_bool("VFRAME_PRELOAD", True)
timeout = env_int("VFRAME_WEB_TIMEOUT", 60, minimum=5)
graceful_timeout = 30
keepalive = 5
# The settings size each worker's database pool from this (vframe_search/env.py).
os.environ["VFRAME_WEB_WORKERS"] = str(workers)
# torch's OpenMP threads sleep when idle instead of spinning on the cores the other
# workers need (libgomp reads this when torch is first imported).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
accesslog = "-" if env_bool("VFRAME_ACCESS_LOG", False) else None
errorlog = "-"
loglevel = (os.environ.get("VFRAME_LOG_LEVEL") or "info").lower()
proc_name = "vframe-web"
# No runtime control socket: several servers may share a host and a home directory,
# and restarts go through the process supervisor.
control_socket_disable = True


def when_ready(server) -> None:
    """In the master, once the app is imported and before the first fork."""
    if preload_app:
        from vframe_search.serving import before_fork

        before_fork(log=server.log)


def post_fork(server, worker) -> None:
    from vframe_search.serving import after_fork

    after_fork()

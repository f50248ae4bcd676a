"""The web server's process layout (``scripts/serve.sh``, ``vframe_search/gunicorn_conf.py``):
gunicorn forks uvicorn workers, each serving HTTP and websockets for the ASGI app.

With ``preload_app`` the master imports the app once and, before the first fork, loads
the default feature's index (:func:`before_fork`): its pages are then shared by every
worker copy-on-write (hnswlib's graph and vectors are never written by a search), so N
workers hold one copy, not N. What must not cross a fork is closed first: database
connections and pools (a socket shared by two processes corrupts both sessions, and a
psycopg pool runs threads), cache clients. Nothing here runs a model: torch's thread
pools do not survive a fork, so each worker loads its model on first use.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from uvicorn_worker import UvicornWorker

logger = logging.getLogger(__name__)


class Worker(UvicornWorker):
    """uvicorn's gunicorn worker for this app: no lifespan (Django and Channels have
    none to run) and uvicorn's access log only when gunicorn's is on."""

    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, "lifespan": "off"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.access_log = self.cfg.accesslog is not None


def close_shared_resources() -> None:
    """Close what a forked child must not inherit: database connections (and their
    pools) and cache clients of this process."""
    from django.core.cache import caches
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
        if getattr(conn, "pool", None) is not None:
            conn.close_pool()
    for cache in caches.all(initialized_only=True):
        cache.close()


def preload_indexes() -> list[int]:
    """Load the default feature's index into this process (the master); returns the
    feature ids loaded. A missing or unready feature is not an error: the workers load
    it on first use."""
    from core.errors import DomainError
    from search_app.indexing import engine
    from search_app.selectors import feature_for_search

    try:
        feature = feature_for_search()
        engine.get_index(feature)
    except DomainError as exc:
        logger.info("no index preloaded: %s", exc)
        return []
    return [feature.pk]


def before_fork(log=None) -> None:
    """In gunicorn's master, after the app was imported and before any worker forks."""
    if os.environ.get("VFRAME_PRELOAD_INDEXES", "1").strip().lower() not in ("0", "false", "no", "off"):
        try:
            loaded = preload_indexes()
            if loaded and log is not None:
                log.info("index of feature %s loaded before fork: shared by the workers", loaded[0])
        except Exception:  # the workers load on first use; never refuse to start for this
            logger.exception("preloading the default index failed; workers will load it themselves")
    close_shared_resources()


def after_fork() -> None:
    """In each worker right after the fork: nothing inherited may be used (the master
    closed its connections; this is for a master that opened one after)."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        # Forget, never close: closing would end the master's session on the shared socket.
        conn.connection = None
    # Each process its own pool, created on first use.
    from django.db.backends.postgresql.base import DatabaseWrapper

    DatabaseWrapper._connection_pools.clear()
    keep_sqlite_open()
    from django.apps import apps

    if apps.ready:  # VFRAME_PRELOAD=0: the worker imports the app only after this
        warm_search_at_start()


_sqlite_keeper = None


def keep_sqlite_open(name: str | None = None) -> None:
    """Hold one idle connection to a SQLite database for the life of this process.

    In WAL mode SQLite checkpoints the log into the database file, with an fsync,
    whenever the last connection to it closes. Django closes its connection at the end
    of every request (no persistent connections under ASGI), so every request paid a
    checkpoint: most of a search's time on SQLite. With a connection left open the log
    is checkpointed as it grows (every 1000 pages) instead: 0.3 ms rather than 18 ms for
    a write and a close here. The keeper holds no transaction, so it never holds a lock
    or keeps a checkpoint from finishing.
    """
    global _sqlite_keeper
    from django.conf import settings

    if name is None:
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.sqlite3":
            return
        name = str(db["NAME"])
    if name.startswith(("file:", ":memory:")):
        return
    import sqlite3

    keeper = sqlite3.connect(name, check_same_thread=False)
    # One finished read attaches it to the log (the shared-memory index); an idle
    # connection that has read nothing yet would not count as a reader.
    keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
    _sqlite_keeper = keeper


def warm_search_at_start() -> None:
    """Load the default model (and index) in the background as this process starts to
    serve, unless VFRAME_WARM_AT_START is off: the first search then does not wait."""
    from django.conf import settings

    if settings.SEARCH_WARM_AT_START:
        from search_app.services import search_warm

        search_warm()

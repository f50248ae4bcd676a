"""Typed environment readers that fail loudly, naming the variable that is wrong.

Every setting that comes from the environment goes through one of these helpers so an
operator who mistypes a value gets ``ImproperlyConfigured: VFRAME_MAX_UPLOAD_BYTES:
expected an integer, got '10MB'`` at start-up instead of a confusing failure later.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (1/0, true/false, yes/no), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.strip():
        raise ImproperlyConfigured(f"{name}: must not be empty")
    return Path(raw).expanduser().resolve()


# WAL lets readers run beside the writer (searches beside an ingest); synchronous=NORMAL
# in WAL mode stays consistent after a crash and skips an fsync per commit.
SQLITE_OPTIONS = {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}


def env_database(name: str, default_sqlite: Path) -> dict:
    """Parse ``DATABASE_URL``; only PostgreSQL and SQLite are supported."""
    import dj_database_url

    # Read even when unused (SQLite), so a bad value fails at start like any other.
    connect_timeout = env_int("VFRAME_DB_CONNECT_TIMEOUT", 5, minimum=1)
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(default_sqlite),
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    try:
        # No persistent connections: under ASGI every thread that ran a query would keep
        # its own. PostgreSQL gets a bounded pool instead (env_db_pool).
        config = dj_database_url.parse(raw, conn_max_age=0, conn_health_checks=True)
    except Exception as exc:  # dj_database_url raises several types for bad URLs
        raise ImproperlyConfigured(f"{name}: cannot parse {raw!r}: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured(f"{name}: only postgres:// and sqlite:// are supported, got {raw!r}")
    if engine == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = dict(SQLITE_OPTIONS)
    else:
        # libpq waits for ever on a database host that is gone without a word (no reset,
        # no refusal); one such wait would hold a request and a pool slot for ever.
        # A ?connect_timeout= in the URL wins.
        options = config.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", connect_timeout)
        pool = env_db_pool(default_timeout=2.0 * connect_timeout)
        if pool is not None:
            options["pool"] = pool
    return config


def db_pool_max_size(*, web_workers: int | None) -> int:
    """Connections one process may hold at most (0: no pool, a connection per request).

    ``VFRAME_DB_POOL_MAX_SIZE`` when set; else a web worker gets its share of
    ``VFRAME_DB_WEB_CONNECTIONS`` (default 64) split over the server's workers, between
    1 and 4, and any other process (a Celery worker process, a command) 4.
    """
    budget = env_int("VFRAME_DB_WEB_CONNECTIONS", 64, minimum=1)
    if os.environ.get("VFRAME_DB_POOL_MAX_SIZE") is not None:
        return env_int("VFRAME_DB_POOL_MAX_SIZE", 4, minimum=0)
    if web_workers:
        return max(1, min(4, budget // web_workers))
    return 4


def env_db_pool(*, default_timeout: float = 5.0) -> dict | None:
    """psycopg's connection pool for PostgreSQL (Django's ``OPTIONS["pool"]``), or None
    when ``VFRAME_DB_POOL_MAX_SIZE=0``. ``VFRAME_WEB_WORKERS`` is set by the web server's
    configuration (vframe_search/gunicorn_conf.py) in its workers."""
    web_workers = env_int("VFRAME_WEB_WORKERS", 0, minimum=0)
    max_size = db_pool_max_size(web_workers=web_workers)
    if max_size == 0:
        return None
    min_size = env_int("VFRAME_DB_POOL_MIN_SIZE", 1, minimum=0)
    if min_size > max_size:
        raise ImproperlyConfigured(f"VFRAME_DB_POOL_MIN_SIZE: must be at most the pool's maximum ({max_size}), got {min_size}")
    # How long a request waits for a connection before it fails (503): by default twice
    # as long as opening one may take, so an unreachable database still answers within
    # seconds, and a pool kept busy by a burst (64 connections on 2 cores) is waited for.
    timeout = env_float("VFRAME_DB_POOL_TIMEOUT", default_timeout, minimum=0.1)
    return {"min_size": min_size, "max_size": max_size, "timeout": timeout}


_RATE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def env_rate(name: str, default: str) -> str | None:
    """A DRF throttle rate such as ``120/min`` (periods: second, minute, hour, day);
    ``off`` turns the limit off (None)."""
    raw = os.environ.get(name)
    value = (default if raw is None else raw).strip().lower()
    if value == "off":
        return None
    count, _, period = value.partition("/")
    if not (count.isdigit() and int(count) > 0 and period in _RATE_PERIODS):
        raise ImproperlyConfigured(f"{name}: expected a rate like 120/min (per second, minute, hour or day) or off, got {raw!r}")
    return f"{int(count)}/{period}"


def env_redis_url(name: str) -> str | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"{name}: expected a redis:// or rediss:// URL, got {raw!r}")
    return raw

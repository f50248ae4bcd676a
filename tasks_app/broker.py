"""Short-fused access to the Celery broker for the web process.

kombu retries a lost broker many times by default, which is right for a worker and
wrong for an HTTP request: the API must answer 503 in about a second, not hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings


@contextmanager
def broker_connection() -> Iterator:
    """A broker connection that is known to work, tried once within TASK_INFO_TIMEOUT."""
    from celery import current_app as app  # the project's Celery app (vframe_search.celery)

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=settings.TASK_INFO_TIMEOUT)
        yield conn


def broker_display() -> str:
    """The broker URL without its password, to name it in error messages."""
    from celery import current_app as app  # the project's Celery app (vframe_search.celery)
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(app.conf.broker_url)


def is_broker_error(exc: BaseException) -> bool:
    """True for the errors of an unreachable broker (kombu, redis-py, sockets)."""
    from kombu.exceptions import OperationalError

    if isinstance(exc, OperationalError | OSError | ConnectionError | TimeoutError):
        return True
    return type(exc).__module__.split(".")[0] in ("redis", "kombu", "amqp")

"""Starting Celery tasks the same way with or without a broker.

With Redis (``settings.TASKS_INLINE`` false) :func:`enqueue` is ``task.apply_async``.
Without one (the embedded defaults) the task runs in a small thread pool of the
current process (``settings.TASKS_INLINE_WORKERS`` threads) through ``task.apply``,
so Celery's signals, ``self.request.id`` and ``update_state`` behave as under a
worker; the call returns the task id at once either way.

Services call :func:`enqueue_on_commit` (``transaction.on_commit``) so a task never
runs against a row that was rolled back. ``settings.TASKS_EAGER`` (tests only) runs
inline tasks in the calling thread, which then sees the test's transaction.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from django.conf import settings
from django.db import connections, transaction

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pending: set[Future] = set()


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.TASKS_INLINE_WORKERS, thread_name_prefix="vframe-task")
        return _pool


def _run_inline(task, args: tuple, kwargs: dict, task_id: str, *, close_db: bool) -> Any:
    try:
        result = task.apply(args=args, kwargs=kwargs, task_id=task_id)
        if result.failed():
            logger.error("inline task %s[%s] failed: %r", task.name, task_id, result.result)
        return result
    finally:
        if close_db:
            # This thread's connections would otherwise stay open until the process ends.
            connections.close_all()


def enqueue(task, *args: Any, task_id: str | None = None, **kwargs: Any) -> str:
    """Start ``task(*args, **kwargs)`` in the background and return its task id."""
    task_id = task_id or str(uuid.uuid4())
    if not settings.TASKS_INLINE:
        return task.apply_async(args=args, kwargs=kwargs, task_id=task_id).id
    if getattr(settings, "TASKS_EAGER", False):
        _run_inline(task, args, kwargs, task_id, close_db=False)
        return task_id
    future = _get_pool().submit(_run_inline, task, args, kwargs, task_id, close_db=True)
    with _pool_lock:
        _pending.add(future)
    future.add_done_callback(_discard)
    return task_id


def _discard(future: Future) -> None:
    with _pool_lock:
        _pending.discard(future)


def enqueue_on_commit(task, *args: Any, **kwargs: Any) -> None:
    """:func:`enqueue` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs))


def wait_inline(timeout: float | None = None) -> bool:
    """Wait for the inline tasks started so far; True when all finished in time."""
    with _pool_lock:
        pending = set(_pending)
    if not pending:
        return True
    _done, not_done = wait(pending, timeout=timeout)
    return not not_done

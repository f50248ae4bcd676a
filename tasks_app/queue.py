"""Starting Celery tasks the same way with or without a broker.

With Redis (``settings.TASKS_INLINE`` false) :func:`enqueue` is ``task.apply_async``.
Without one (the embedded defaults) the task runs in a small thread pool of the
current process through ``task.apply``, so Celery's signals, ``self.request.id`` and
``update_state`` behave as under a worker; the call returns the task id at once
either way. There are two pools (*lanes*): non-staff users' tasks run in
``settings.TASKS_INLINE_WORKERS`` threads, staff's and the system's own (index
builds) in ``settings.TASKS_INLINE_STAFF_WORKERS`` others, so curators' tasks can
fill their pool without keeping a staff task waiting.

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

# The lanes of the inline pools (see the module docstring).
STAFF_LANE = "staff"
USER_LANE = "users"
_LANE_WORKERS = {STAFF_LANE: "TASKS_INLINE_STAFF_WORKERS", USER_LANE: "TASKS_INLINE_WORKERS"}

_pools: dict[str, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()
_pending: set[Future] = set()
_queued_ids: set[str] = set()


def _get_pool(lane: str) -> ThreadPoolExecutor:
    with _pool_lock:
        pool = _pools.get(lane)
        if pool is None:
            workers = getattr(settings, _LANE_WORKERS[lane])
            pool = _pools[lane] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"vframe-task-{lane}")
        return pool


def inline_task_ids() -> set[str]:
    """Ids of the tasks this process's inline pools hold now (queued or running)."""
    with _pool_lock:
        return set(_queued_ids)


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


def enqueue(task, *args: Any, task_id: str | None = None, lane: str = STAFF_LANE, **kwargs: Any) -> str:
    """Start ``task(*args, **kwargs)`` in the background and return its task id.

    ``lane``: the inline pool it runs in, ``USER_LANE`` for a non-staff user's task
    (the default is the staff and system lane); ignored under Celery.
    """
    task_id = task_id or str(uuid.uuid4())
    if not settings.TASKS_INLINE:
        return task.apply_async(args=args, kwargs=kwargs, task_id=task_id).id
    if getattr(settings, "TASKS_EAGER", False):
        _run_inline(task, args, kwargs, task_id, close_db=False)
        return task_id
    with _pool_lock:
        _queued_ids.add(task_id)
    try:
        future = _get_pool(lane).submit(_run_inline, task, args, kwargs, task_id, close_db=True)
    except BaseException:
        with _pool_lock:
            _queued_ids.discard(task_id)
        raise
    with _pool_lock:
        _pending.add(future)
    future.add_done_callback(lambda f: _discard(f, task_id))
    return task_id


def _discard(future: Future, task_id: str) -> None:
    with _pool_lock:
        _pending.discard(future)
        _queued_ids.discard(task_id)


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

"""Every write about tasks: start one, cancel one, and record what workers report.

The API, the websocket layer and the Celery signal handlers (``tasks_app.signals``)
all go through these functions, so a task started in inline mode and one run by a
Celery worker on another host leave the same ``TaskRun`` row and send the same events.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from core.errors import Conflict, ServiceUnavailable

from . import events
from .events import TaskCancelled
from .models import FINISHED_STATES, TaskRun, TaskState
from .registry import task_name_for, task_spec_get

logger = logging.getLogger(__name__)

# Celery's own housekeeping tasks are not anybody's work to watch.
_IGNORED_PREFIXES = ("celery.",)

# Progress is broadcast at most this often (the first and the final report always: a
# loop reporting per file would otherwise flood slow browsers, whose channel then drops
# messages), written to the database at most this often (and at the end), and the
# cancel flag is read at most this often.
PROGRESS_BROADCAST_EVERY = 0.1
PROGRESS_WRITE_EVERY = 0.5
CANCEL_CHECK_EVERY = 0.5


def _ignored(celery_name: str) -> bool:
    return celery_name.startswith(_IGNORED_PREFIXES)


# --- Starting and cancelling ---------------------------------------------------------------------


def task_start(*, name: Any, params: Any, user) -> TaskRun:
    """Validate and enqueue a registry task for ``user``; returns its row at once.

    400 for an unknown name or bad params, 403 for a staff-only task, 503 when the
    queue cannot be reached (the row is then kept as FAILURE with the reason).
    """
    spec = task_spec_get(name=name, user=user)
    kwargs = spec.validate(params)
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        run = TaskRun.objects.create(task_id=task_id, name=spec.name, params=_json_safe(kwargs), user=user)
        # After commit, so a fast worker never looks for a row that is not there yet.
        transaction.on_commit(lambda: _enqueue(run_pk=run.pk, task_path=spec.task_path, task_id=task_id, kwargs=kwargs))
    return run


def _enqueue(*, run_pk: int, task_path: str, task_id: str, kwargs: dict) -> None:
    from django.utils.module_loading import import_string

    from .queue import enqueue

    try:
        enqueue(import_string(task_path), task_id=task_id, **kwargs)
    except Exception as exc:
        logger.exception("could not enqueue task %s (%s)", task_id, task_path)
        reason = f"{type(exc).__name__}: {exc}"
        TaskRun.objects.filter(pk=run_pk).update(state=TaskState.FAILURE, error=f"Not started: {reason}", finished_at=timezone.now())
        raise ServiceUnavailable(f"The task queue is unreachable, the task was not started ({reason}).", code="queue_unavailable")


def task_cancel(*, run: TaskRun) -> TaskRun:
    """Cancel a pending or running task (409 once it has finished).

    A pending task is marked cancelled at once. A running one gets the cancel flag,
    which its next progress report honours, and under Celery it is also revoked with
    ``terminate`` so a task that never reports still stops.
    """
    if run.state in FINISHED_STATES:
        raise Conflict(f"Task {run.task_id} has already finished ({run.state}).", code="task_finished")
    now = timezone.now()
    claimed = TaskRun.objects.filter(pk=run.pk, state=TaskState.PENDING).update(state=TaskState.REVOKED, cancel_requested=True, finished_at=now)
    if not claimed:
        TaskRun.objects.filter(pk=run.pk).exclude(state__in=FINISHED_STATES).update(cancel_requested=True)
    if not settings.TASKS_INLINE:
        from celery import current_app as app  # the project's Celery app (vframe_search.celery)

        from .broker import broker_connection

        try:
            with broker_connection() as conn:
                app.control.revoke(run.task_id, terminate=True, signal="SIGTERM", connection=conn)
        except Exception:
            # The flag is set; the task still stops at its next progress report.
            logger.warning("could not broadcast the revoke of %s", run.task_id, exc_info=True)
    run.refresh_from_db()
    if claimed:
        events.emit("cancelled", task_id=run.task_id, task_name=run.name, user_id=run.user_id)
    return run


# --- What workers report (called from tasks_app.signals and tasks_app.events) ---------------------


class _Running:
    """What this process remembers about a task it is running, to report without queries."""

    def __init__(self, name: str, user_id: int | None) -> None:
        self.name = name
        self.user_id = user_id
        self.cancelled = False
        self.last: tuple[int, int, str] | None = None
        self.broadcast_at = float("-inf")  # the first report is always sent
        self.written_at = float("-inf")  # and stored
        self.checked_at = time.monotonic()


_running: dict[str, _Running] = {}
_running_lock = threading.Lock()


def _remember(task_id: str, name: str, user_id: int | None) -> _Running:
    with _running_lock:
        state = _running[task_id] = _Running(name, user_id)
        return state


def _recall(task_id: str) -> _Running:
    with _running_lock:
        state = _running.get(task_id)
    if state is None:
        # Progress from a thread this process did not see start: look the task up once.
        row = TaskRun.objects.filter(task_id=task_id).values("name", "user_id").first() or {"name": "", "user_id": None}
        state = _remember(task_id, row["name"], row["user_id"])
    return state


def _forget(task_id: str) -> _Running | None:
    with _running_lock:
        return _running.pop(task_id, None)


def task_run_mark_started(*, task_id: str, celery_name: str, kwargs: dict | None, worker: str = "") -> None:
    """A worker began ``task_id``: claim the row (creating it for tasks started elsewhere)."""
    if _ignored(celery_name):
        return
    now = timezone.now()
    claimed = TaskRun.objects.filter(task_id=task_id, state=TaskState.PENDING).update(state=TaskState.STARTED, started_at=now, worker=worker[:255])
    if not claimed:
        run, created = TaskRun.objects.get_or_create(
            task_id=task_id,
            defaults={
                "name": task_name_for(celery_name),
                "params": _json_safe(kwargs or {}),
                "state": TaskState.STARTED,
                "started_at": now,
                "worker": worker[:255],
            },
        )
    else:
        run, created = TaskRun.objects.only("name", "user_id", "state", "cancel_requested").get(task_id=task_id), False
    state = _remember(task_id, run.name, run.user_id)
    if not claimed and not created:
        # Cancelled while it waited in the queue: stop at the first report, say nothing.
        state.cancelled = run.cancel_requested or run.state == TaskState.REVOKED
        if state.cancelled:
            return
        # Delivered again (its worker was lost, acks_late): this worker has it now.
        TaskRun.objects.filter(task_id=task_id, state=TaskState.STARTED).update(started_at=now, worker=worker[:255])
    events.emit("started", task_id=task_id, task_name=run.name, user_id=run.user_id, worker=worker)


def task_run_report_progress(*, task_id: str, current: int, total: int, message: str = "") -> None:
    """One progress report: broadcast it, store it now and then, and honour a cancel.

    Raises only :class:`TaskCancelled`: bookkeeping that fails (a busy database) is
    logged, and the work goes on.
    """
    try:
        state = _recall(task_id)
    except DatabaseError:
        logger.warning("progress of task %s not recorded", task_id, exc_info=True)
        return
    if state.cancelled:
        raise TaskCancelled(f"Task {task_id} was cancelled.")
    message = str(message)[:500]
    state.last = (int(current), int(total), message)
    now = time.monotonic()
    if now - state.broadcast_at >= PROGRESS_BROADCAST_EVERY or current >= total:
        state.broadcast_at = now
        events.emit("progress", task_id=task_id, task_name=state.name, user_id=state.user_id, current=int(current), total=int(total), message=message)
    try:
        if now - state.written_at >= PROGRESS_WRITE_EVERY or current >= total:
            state.written_at = now
            _write_progress(task_id, state.last)
        if now - state.checked_at >= CANCEL_CHECK_EVERY:
            state.checked_at = now
            state.cancelled = TaskRun.objects.filter(task_id=task_id, cancel_requested=True).exists()
    except DatabaseError:
        logger.warning("progress of task %s not recorded", task_id, exc_info=True)
    if state.cancelled:
        raise TaskCancelled(f"Task {task_id} was cancelled.")


def _write_progress(task_id: str, last: tuple[int, int, str] | None) -> None:
    if last is None:
        return
    current, total, message = last
    TaskRun.objects.filter(task_id=task_id).update(progress_current=current, progress_total=total, progress_message=message)


def task_run_mark_succeeded(*, task_id: str, celery_name: str, result: Any) -> None:
    """The task returned: keep its result and last progress, tell the watchers."""
    if _ignored(celery_name):
        return
    state = _forget(task_id) or _recall_and_forget(task_id)
    result = _json_safe(result)
    fields: dict[str, Any] = {"state": TaskState.SUCCESS, "result": result, "finished_at": timezone.now()}
    if state.last is not None:
        fields.update(progress_current=state.last[0], progress_total=state.last[1], progress_message=state.last[2])
    TaskRun.objects.filter(task_id=task_id).exclude(state__in=FINISHED_STATES).update(**fields)
    events.emit("finished", task_id=task_id, task_name=state.name, user_id=state.user_id, result=result)


def task_run_mark_failed(*, task_id: str, celery_name: str, exc: BaseException) -> None:
    """The task raised: FAILURE with the error, or REVOKED if it stopped for a cancel."""
    if _ignored(celery_name):
        return
    state = _forget(task_id) or _recall_and_forget(task_id)
    fields: dict[str, Any] = {"finished_at": timezone.now()}
    if state.last is not None:
        fields.update(progress_current=state.last[0], progress_total=state.last[1], progress_message=state.last[2])
    if isinstance(exc, TaskCancelled):
        _finish_cancelled(task_id, state.name, state.user_id, fields, announce_first=True)
        return
    error = f"{type(exc).__name__}: {exc}"
    TaskRun.objects.filter(task_id=task_id).exclude(state__in=FINISHED_STATES).update(state=TaskState.FAILURE, error=error, **fields)
    events.emit("failed", task_id=task_id, task_name=state.name, user_id=state.user_id, error=error)


def task_run_mark_revoked(*, task_id: str, celery_name: str) -> None:
    """Celery revoked the task (terminated while running, or dropped before it ran)."""
    if _ignored(celery_name):
        return
    state = _forget(task_id) or _recall_and_forget(task_id)
    _finish_cancelled(task_id, state.name, state.user_id, {"finished_at": timezone.now()})


def _finish_cancelled(task_id: str, name: str, user_id: int | None, fields: dict, *, announce_first: bool = False) -> None:
    """Mark the run cancelled; the first of the paths that see a cancel (the API for a
    pending task, the task's own check, Celery's revoke) announces it.

    The task's own check announces *before* writing: Celery's terminate may kill the
    process at any moment, and the main process's revoke handler then announces again
    only if the row was not written. A watcher may so see "cancelled" twice, never zero times.
    """
    unfinished = TaskRun.objects.filter(task_id=task_id).exclude(state__in=FINISHED_STATES)
    if announce_first and unfinished.exists():
        events.emit("cancelled", task_id=task_id, task_name=name, user_id=user_id)
    changed = unfinished.update(state=TaskState.REVOKED, cancel_requested=True, **fields)
    if changed and not announce_first:
        events.emit("cancelled", task_id=task_id, task_name=name, user_id=user_id)


def _recall_and_forget(task_id: str) -> _Running:
    state = _recall(task_id)
    _forget(task_id)
    return state


def _json_safe(value: Any) -> Any:
    """Round-trip through JSON so anything a task returns can be stored and sent."""
    return json.loads(json.dumps(value, default=str))

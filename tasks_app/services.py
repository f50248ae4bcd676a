"""Every write about tasks: start one, cancel one, and record what workers report.

The API, the websocket layer and the Celery signal handlers (``tasks_app.signals``)
all go through these functions, so a task started in inline mode and one run by a
Celery worker on another host leave the same ``TaskRun`` row and send the same events.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, DomainError, ServiceUnavailable

from . import events
from .events import TaskCancelled
from .models import FINISHED_STATES, TaskRun, TaskState
from .queue import STAFF_LANE, USER_LANE
from .registry import task_name_for, task_spec_get

logger = logging.getLogger(__name__)

# Celery's own housekeeping tasks are not anybody's work to watch.
_IGNORED_PREFIXES = ("celery.",)
ACTIVE_STATES = (TaskState.PENDING, TaskState.STARTED)

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


def task_start(*, name: Any, params: Any, user, server_params: dict | None = None, charge: bool = True) -> TaskRun:
    """Validate and enqueue a registry task for ``user``; returns its row at once.

    400 for an unknown name or bad params, 403 for a staff-only task, 429 when a
    non-staff user already has ``TASKS_PER_USER`` tasks queued or running or the run's
    costs (``TaskSpec.costs``, charged unless ``charge`` is false: the caller charged
    them) do not fit in the user's rate, 503 when the queue cannot be reached (the row
    is then kept as FAILURE with the reason). ``server_params`` are passed to the task
    as they are: only the server's own code sets them (the batch route's list of
    refused files), never a caller of ``task/run/``.
    """
    spec = task_spec_get(name=name, user=user)
    kwargs = spec.validate(params)
    staff = bool(getattr(user, "is_staff", False))
    if not staff:
        _reap_when_due()
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        if not staff:
            _check_quota(user)
        if charge and spec.costs is not None:
            from core.api.throttles import throttle_charge

            for scope, count in spec.costs(kwargs).items():
                throttle_charge(scope=scope, user=user, count=count, what=f"{scope} requests")
        kwargs.update(server_params or {})
        run = TaskRun.objects.create(task_id=task_id, name=spec.name, params=_json_safe(kwargs), user=user)
        lane = STAFF_LANE if staff else USER_LANE
        # After commit, so a fast worker never looks for a row that is not there yet.
        transaction.on_commit(lambda: _enqueue(run_pk=run.pk, task_path=spec.task_path, task_id=task_id, kwargs=kwargs, lane=lane))
    return run


def task_quota_check(*, user) -> None:
    """429 when a non-staff ``user`` may start no more tasks now: for a route that does
    work of its own before it starts its task (the batch route stores the images)."""
    if getattr(user, "is_staff", False):
        return
    _reap_when_due()
    _check_quota(user, lock=False)


def _check_quota(user, *, lock: bool = True) -> None:
    """429 when ``user`` already has ``TASKS_PER_USER`` tasks queued or running. The
    user's row is locked first, so two requests at once cannot both take the last place."""
    from django.contrib.auth import get_user_model

    if lock:
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    limit = settings.TASKS_PER_USER
    active = TaskRun.objects.filter(user=user, state__in=ACTIVE_STATES).count()
    if active >= limit:
        raise DomainError(
            f"You have {active} task(s) queued or running; each user may have at most {limit} at once. "
            "Wait for one to finish, or cancel one (task/<id>/cancel/).",
            code="too_many_tasks",
            status=429,
        )


def _enqueue(*, run_pk: int, task_path: str, task_id: str, kwargs: dict, lane: str = STAFF_LANE) -> None:
    from django.utils.module_loading import import_string

    from .queue import enqueue

    try:
        enqueue(import_string(task_path), task_id=task_id, lane=lane, **kwargs)
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
    # A run marked lost with its worker is claimed again when Celery delivers it once more.
    claimable = Q(state=TaskState.PENDING) | Q(state=TaskState.FAILURE, error__startswith=WORKER_LOST)
    claimed = TaskRun.objects.filter(claimable, task_id=task_id).update(
        state=TaskState.STARTED, started_at=now, worker=worker[:255], error="", finished_at=None
    )
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


# --- Orphans and retention -------------------------------------------------------------------------

# The error of a run whose worker died under it; such a run may be claimed again when
# Celery delivers its task once more (acks_late).
WORKER_LOST = "Worker lost"
# This process began here: a queued inline run older than this, and not in this
# process's pools, was queued by a process that is gone. (A worker forked from a server
# that imported this module first begins at its fork.)
_PROCESS_STARTED = timezone.now()


def _forked() -> None:
    global _PROCESS_STARTED
    _PROCESS_STARTED = timezone.now()


os.register_at_fork(after_in_child=_forked)
_reaped_at = float("-inf")
_reap_lock = threading.Lock()


def inline_worker_name() -> str:
    """How a run in this process's inline pools names its worker: host and pid."""
    return f"inline@{os.uname().nodename}:{os.getpid()}"


def task_runs_reap_orphans() -> int:
    """Mark failed the runs whose worker is gone; returns how many.

    A run STARTED by a Celery worker that is no longer present (its heartbeats stopped
    ``PRESENCE_TIMEOUT`` ago: killed, crashed, host lost), or that started again since
    the run began (a restart under the same name). A run STARTED in the inline pool of
    a process of this host that no longer exists. A run still PENDING in inline mode
    that was queued before this process started and is not in its pools (inline queues
    die with their process). Nothing is decided when presence is unreachable.
    """
    from . import presence
    from .queue import inline_task_ids

    now = timezone.now()
    node = os.uname().nodename
    lost: list[tuple[TaskRun, str]] = []
    started = list(TaskRun.objects.filter(state=TaskState.STARTED).only("pk", "task_id", "name", "user_id", "worker", "started_at"))
    workers: dict[str, dict] | None = None
    for run in started:
        worker = run.worker or ""
        if worker.startswith("inline@"):
            host, _, pid = worker[len("inline@") :].partition(":")
            if host == node and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                lost.append((run, f"{WORKER_LOST}: the process that ran it (pid {pid}) stopped while it ran (killed or crashed). Run the task again."))
            continue
        if not worker or run.started_at is None or (now - run.started_at).total_seconds() < settings.PRESENCE_TIMEOUT:
            continue
        if workers is None:
            try:
                workers = {w.get("hostname"): w for w in presence.presence_store().members(presence.WORKER)}
            except Exception:
                logger.warning("orphaned task runs not looked for: presence is unreachable", exc_info=True)
                return 0
        present = workers.get(worker)
        if present is None:
            lost.append((run, f"{WORKER_LOST}: worker {worker} stopped answering while the task ran (killed or crashed). Run the task again."))
        elif float(present.get("since") or 0) > run.started_at.timestamp():
            lost.append((run, f"{WORKER_LOST}: worker {worker} restarted while the task ran. Run the task again."))
    if settings.TASKS_INLINE and not getattr(settings, "TASKS_EAGER", False):
        queued = inline_task_ids()
        for run in TaskRun.objects.filter(state=TaskState.PENDING, created_at__lt=_PROCESS_STARTED).only("pk", "task_id", "name", "user_id"):
            if run.task_id not in queued:
                lost.append((run, f"{WORKER_LOST}: the process that queued it stopped before it ran. Run the task again."))
    count = 0
    for run, error in lost:
        if TaskRun.objects.filter(pk=run.pk, state__in=ACTIVE_STATES).update(state=TaskState.FAILURE, error=error, finished_at=now):
            count += 1
            logger.warning("task %s (%s): %s", run.task_id, run.name, error)
            events.emit("failed", task_id=run.task_id, task_name=run.name, user_id=run.user_id, error=error)
    return count


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _reap_when_due() -> None:
    """Reap orphans at most once per ``PRESENCE_TIMEOUT`` in this process (before a
    quota is counted, say); a failure only logs."""
    global _reaped_at
    with _reap_lock:
        if time.monotonic() - _reaped_at < settings.PRESENCE_TIMEOUT:
            return
        _reaped_at = time.monotonic()
    try:
        task_runs_reap_orphans()
    except Exception:
        logger.warning("could not look for orphaned task runs", exc_info=True)


def task_runs_prune(*, days: float) -> dict[str, int]:
    """Delete finished task runs (and Celery's results) older than ``days`` days.

    The apps whose runs left files (batch reports) remove them through the
    ``task_runs_pruned`` hook, called with the runs before they are deleted.
    """
    from django_celery_results.models import TaskResult

    from . import hooks

    cutoff = timezone.now() - timedelta(days=days)
    old = TaskRun.objects.filter(state__in=FINISHED_STATES).filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff))
    runs = 0
    while True:
        batch = list(old.order_by("pk").values("pk", "task_id", "name", "result")[:500])
        if not batch:
            break
        try:
            hooks.task_runs_pruned(runs=batch)
        except Exception:
            logger.exception("a task_runs_pruned hook failed; the runs are deleted anyway")
        runs += TaskRun.objects.filter(pk__in=[r["pk"] for r in batch]).delete()[0]
    results, _ = TaskResult.objects.filter(date_done__lt=cutoff).delete()
    return {"runs": runs, "results": results}


def task_housekeeping() -> dict[str, int]:
    """What a worker does at start and then every ``TASK_HOUSEKEEPING_HOURS``: mark
    orphaned runs failed, and delete runs older than ``TASK_RETENTION_DAYS``."""
    reaped = task_runs_reap_orphans()
    return {"reaped": reaped, **task_runs_prune(days=settings.TASK_RETENTION_DAYS)}

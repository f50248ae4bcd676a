"""Celery signal receivers: task lifecycle to ``TaskRun`` + events, worker presence.

Connected in ``TasksAppConfig.ready``, so they run wherever Django is set up: in Celery
workers (prefork children run the task_* receivers, the main process the worker_* and
task_revoked ones) and, for tasks run inline, in the web process's task threads.
Receivers only translate arguments and call services; they log and never raise, since
Celery would only log the error anyway and the task itself must not suffer.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import signals

from . import presence, services

logger = logging.getLogger(__name__)

_heartbeat: presence.Heartbeat | None = None


@signals.task_prerun.connect(dispatch_uid="tasks_app.prerun")
def _task_prerun(sender=None, task_id=None, task=None, kwargs=None, **_) -> None:
    request = task.request
    # apply() (the inline pool) reports the bare host name; say how the task ran instead.
    worker = services.inline_worker_name() if request.is_eager else (request.hostname or "")
    try:
        services.task_run_mark_started(task_id=task_id, celery_name=task.name, kwargs=kwargs, worker=worker)
    except Exception:
        logger.exception("could not record the start of task %s", task_id)


@signals.task_success.connect(dispatch_uid="tasks_app.success")
def _task_success(sender=None, result=None, **_) -> None:
    task_id = sender.request.id
    try:
        services.task_run_mark_succeeded(task_id=task_id, celery_name=sender.name, result=result)
    except Exception:
        logger.exception("could not record the success of task %s", task_id)


@signals.task_failure.connect(dispatch_uid="tasks_app.failure")
def _task_failure(sender=None, task_id=None, exception=None, **_) -> None:
    try:
        services.task_run_mark_failed(task_id=task_id, celery_name=sender.name, exc=exception)
    except Exception:
        logger.exception("could not record the failure of task %s", task_id)


@signals.task_revoked.connect(dispatch_uid="tasks_app.revoked")
def _task_revoked(sender=None, request=None, **_) -> None:
    task_id = getattr(request, "id", None)
    try:
        services.task_run_mark_revoked(task_id=task_id, celery_name=getattr(sender, "name", "") or "")
    except Exception:
        logger.exception("could not record the revoke of task %s", task_id)


@signals.worker_ready.connect(dispatch_uid="tasks_app.worker_ready")
def _worker_ready(sender=None, **_) -> None:
    """Register this worker in socket/clients/ and keep it there with heartbeats, and
    start its housekeeping (orphaned runs, old runs)."""
    global _heartbeat
    hostname = getattr(sender, "hostname", None) or f"celery@{os.uname().nodename}"
    info = {"hostname": hostname, "pid": os.getpid(), "since": time.time()}
    try:
        _heartbeat = presence.Heartbeat(presence.WORKER, hostname, info)
        _heartbeat.start()
    except Exception:
        logger.exception("could not register worker %s as present", hostname)
    _stop_housekeeping.clear()
    threading.Thread(target=_housekeeping, name="task-housekeeping", daemon=True).start()


_stop_housekeeping = threading.Event()


def _housekeeping() -> None:
    """Celery beat does not run here, so each worker keeps the task rows itself: at
    start and every ``TASK_HOUSEKEEPING_HOURS`` it deletes runs past their retention,
    and every ``PRESENCE_TIMEOUT`` it marks failed the runs of workers that died (the
    other workers notice a killed one within that time)."""
    from django.conf import settings
    from django.db import connection

    prune_at = 0.0
    while True:
        try:
            if time.monotonic() >= prune_at:
                done = services.task_housekeeping()
                prune_at = time.monotonic() + settings.TASK_HOUSEKEEPING_HOURS * 3600
                if any(done.values()):
                    logger.info("task housekeeping: %s", done)
            else:
                services.task_runs_reap_orphans()
        except Exception:
            logger.warning("task housekeeping failed; trying again later", exc_info=True)
        finally:
            connection.close()
        if _stop_housekeeping.wait(settings.PRESENCE_TIMEOUT):
            return


@signals.worker_shutdown.connect(dispatch_uid="tasks_app.worker_shutdown")
def _worker_shutdown(sender=None, **_) -> None:
    """Say goodbye so the worker leaves socket/clients/ now, not after the timeout."""
    global _heartbeat
    _stop_housekeeping.set()
    if _heartbeat is None:
        return
    try:
        _heartbeat.stop()
    except Exception:
        logger.exception("could not unregister worker %s", _heartbeat.key)
    _heartbeat = None

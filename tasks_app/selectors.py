"""Every non-trivial read about tasks: runs a user may see, queues and workers, presence."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django_celery_results.models import TaskResult

from core.errors import NotFound, ServiceUnavailable

from . import presence
from .models import FINISHED_STATES, TaskRun, TaskState

logger = logging.getLogger(__name__)


# --- Task runs ----------------------------------------------------------------------------------


def task_run_list(*, user) -> QuerySet[TaskRun]:
    """Runs ``user`` may see, newest first: their own, or every run for staff."""
    runs = TaskRun.objects.select_related("user").order_by("-created_at", "-id")
    return runs if user.is_staff else runs.filter(user=user)


def task_run_get(*, task_id: str, user) -> TaskRun:
    """One run ``user`` may see (404 otherwise, so ids of others' tasks reveal nothing).

    The run carries ``celery_result`` (django-celery-results' row, or None): when a
    worker died before it could update the run, Celery's record is the better one.
    """
    run = task_run_list(user=user).filter(task_id=task_id).first()
    if run is None:
        raise NotFound(f"No task with id {task_id!r}.")
    run.celery_result = TaskResult.objects.filter(task_id=task_id).first()
    return run


def task_run_effective_state(run: TaskRun) -> str:
    """The run's state, or Celery's when only Celery saw the end (a worker lost mid-task)."""
    celery = getattr(run, "celery_result", None)
    if run.state not in FINISHED_STATES and celery is not None and celery.status in FINISHED_STATES:
        return celery.status
    return run.state


# --- Queues and workers (task/info/) --------------------------------------------------------------


def task_queue_info(*, user) -> dict[str, Any]:
    """Queues and workers as Celery sees them: per worker its active, reserved and
    scheduled tasks. 503 with the reason when the broker or every worker is unreachable;
    every wait is bounded by ``TASK_INFO_TIMEOUT``. Staff see every task with its
    parameters (server paths, say); anyone else only their own tasks, without
    parameters, like task/recent/ (the queue depths count everyone's)."""
    include_params = bool(user.is_staff)
    if settings.TASKS_INLINE:
        return _inline_queue_info(include_params=include_params, user=user)
    from celery import current_app as app  # the project's Celery app (vframe_search.celery)

    from .broker import broker_connection, broker_display, is_broker_error

    timeout = settings.TASK_INFO_TIMEOUT
    broker = broker_display()
    try:
        with broker_connection() as conn:
            queues = _queue_depths(conn)
            known = _present_worker_count()
            pings = app.control.inspect(timeout=timeout, connection=conn, limit=known or None).ping() or {}
            if not pings:
                raise ServiceUnavailable(
                    f"No Celery worker answered within {timeout:g}s; start one with `celery -A vframe_search worker`.",
                    code="no_worker",
                )
            inspect = app.control.inspect(destination=sorted(pings), timeout=timeout, connection=conn, limit=len(pings))
            active = inspect.active() or {}
            reserved = inspect.reserved() or {}
            scheduled = inspect.scheduled() or {}
            active_queues = inspect.active_queues() or {}
    except ServiceUnavailable:
        raise
    except Exception as exc:
        if not is_broker_error(exc):
            raise
        raise ServiceUnavailable(f"The task broker ({broker}) is unreachable: {exc}", code="broker_unavailable")
    scheduled = {host: [{**(t.get("request") or {}), "eta": t.get("eta")} for t in tasks or []] for host, tasks in scheduled.items()}
    visible = _visible_ids(user, [t.get("id") for listing in (active, reserved, scheduled) for tasks in listing.values() for t in tasks or []])

    def briefs(listing: dict, hostname: str) -> list[dict[str, Any]]:
        return [_task_brief(t, include_params, eta=t.get("eta")) for t in listing.get(hostname) or [] if visible is None or t.get("id") in visible]

    workers = [
        {
            "hostname": hostname,
            "queues": sorted(q.get("name", "") for q in active_queues.get(hostname) or []),
            "active": briefs(active, hostname),
            "reserved": briefs(reserved, hostname),
            "scheduled": briefs(scheduled, hostname),
        }
        for hostname in sorted(pings)
    ]
    return {"mode": "celery", "broker": broker, "queues": queues, "workers": workers}


def _queue_depths(conn) -> list[dict[str, Any]]:
    from kombu.exceptions import ChannelError

    name = settings.CELERY_TASK_DEFAULT_QUEUE
    try:
        _, waiting, _ = conn.default_channel.queue_declare(queue=name, passive=True)
    except ChannelError:
        waiting = 0  # no worker has declared the queue yet: nothing waits in it
    return [{"name": name, "waiting": waiting}]


def _present_worker_count() -> int:
    try:
        return len(presence.presence_store().members(presence.WORKER))
    except Exception:
        return 0


def _visible_ids(user, ids: list) -> set[str] | None:
    """The task ids of ``ids`` that ``user`` may see listed: None (all) for staff."""
    if user.is_staff:
        return None
    return set(TaskRun.objects.filter(user=user, task_id__in=[i for i in ids if isinstance(i, str)]).values_list("task_id", flat=True))


def _task_brief(task: dict, include_params: bool, eta: str | None = None) -> dict[str, Any]:
    from .registry import task_name_for

    brief = {
        "id": task.get("id"),
        "name": task_name_for(task.get("name") or task.get("type") or ""),
        "kwargs": task.get("kwargs") if include_params else None,
        "worker_pid": task.get("worker_pid"),
        "started_at": _iso(task.get("time_start")),
    }
    if eta is not None:
        brief["eta"] = eta
    return brief


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat() if timestamp else None


def _inline_queue_info(*, include_params: bool, user) -> dict[str, Any]:
    """Without a broker the web process is the worker: report its task threads from the runs."""
    runs = TaskRun.objects.filter(state__in=[TaskState.PENDING, TaskState.STARTED]).order_by("created_at", "id")
    waiting = runs.filter(state=TaskState.PENDING).count()
    if not user.is_staff:
        runs = runs.filter(user=user)
    active, reserved = [], []
    for run in runs:
        brief = {
            "id": run.task_id,
            "name": run.name,
            "kwargs": run.params if include_params else None,
            "worker_pid": os.getpid(),
            "started_at": run.started_at and run.started_at.isoformat(),
        }
        (active if run.state == TaskState.STARTED else reserved).append(brief)
    worker = {
        "hostname": f"inline@{os.uname().nodename}",
        "queues": [settings.CELERY_TASK_DEFAULT_QUEUE],
        "active": active,
        "reserved": reserved,
        "scheduled": [],
        "threads": settings.TASKS_INLINE_WORKERS + settings.TASKS_INLINE_STAFF_WORKERS,
    }
    return {"mode": "inline", "broker": None, "queues": [{"name": settings.CELERY_TASK_DEFAULT_QUEUE, "waiting": waiting}], "workers": [worker]}


# --- Presence (socket/clients/) --------------------------------------------------------------------


def connected_clients() -> dict[str, list[dict[str, Any]]]:
    """Websocket clients and Celery workers present now (503 when Redis is unreachable)."""
    store = presence.presence_store()
    try:
        clients = store.members(presence.CLIENT)
        workers = store.members(presence.WORKER)
    except Exception as exc:
        if type(exc).__module__.startswith("redis") or isinstance(exc, OSError):
            raise ServiceUnavailable(f"Redis is unreachable, so presence is unknown: {exc}", code="redis_unavailable")
        raise
    return {
        "clients": sorted(
            ({"user": c.get("user"), "auth": c.get("auth"), "since": _iso(c.get("since")), "last_seen": _iso(c.get("last_seen"))} for c in clients),
            key=lambda c: (c["since"] or "", c["user"] or ""),
        ),
        "workers": sorted(
            ({"hostname": w.get("hostname"), "pid": w.get("pid"), "since": _iso(w.get("since")), "last_heartbeat": _iso(w.get("last_seen"))} for w in workers),
            key=lambda w: w["hostname"] or "",
        ),
    }

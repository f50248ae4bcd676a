"""Task events over the channel layer: the one place a task's life becomes a websocket message.

Workers (or, without Redis, the web process's task threads) call :func:`emit`; every
connected ``EventsConsumer`` of the task's owner, and of every staff user, receives the
event. Progress reports reach it through
``tasks_app.services.task_run_report_progress``.

Events are best effort: the database row (``TaskRun``) is the record, so a channel layer
that is down is logged and never fails the task.

Event shape (JSON on the websocket)::

    {"event": "started",  "task_id": ..., "task_name": ..., "worker": ..., "at": ...}
    {"event": "progress", "task_id": ..., "task_name": ..., "current": 3, "total": 10, "message": "...", "at": ...}
    {"event": "finished", "task_id": ..., "task_name": ..., "result": ..., "at": ...}
    {"event": "failed",   "task_id": ..., "task_name": ..., "error": "...", "at": ...}
    {"event": "cancelled","task_id": ..., "task_name": ..., "at": ...}
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.utils import timezone

logger = logging.getLogger(__name__)

STAFF_GROUP = "tasks.staff"
MESSAGE_TYPE = "task.event"  # dispatched to EventsConsumer.task_event


class TaskCancelled(Exception):
    """Raised inside a running task (from its progress report) once a cancel was requested.

    Threads cannot be killed, so in inline mode this is how a cancel takes effect; under
    Celery the worker also terminates the process, whichever comes first.
    """


def user_group(user_id: int) -> str:
    return f"tasks.user.{user_id}"


def groups_for(user) -> list[str]:
    """Groups a websocket of ``user`` joins: staff see every task, others their own."""
    return [STAFF_GROUP] if user.is_staff else [user_group(user.pk)]


def sockets_group(user_id: int) -> str:
    """Every websocket of one user, staff or not: told to check its credentials again."""
    return f"sockets.user.{user_id}"


RECHECK_TYPE = "credentials.changed"  # dispatched to EventsConsumer.credentials_changed


def recheck_user_sockets(*, user_id: int, reason: str) -> None:
    """Make every websocket of ``user_id`` check its session or token again now (after
    a logout, say); those whose credentials no longer hold close. Never raises."""
    try:
        _send(sockets_group(user_id), {"type": RECHECK_TYPE, "reason": reason})
    except Exception:
        logger.warning("could not ask the websockets of user %s to check their credentials", user_id, exc_info=True)


# The event loop of the ASGI server in this process, for the in-memory layer (see _send).
_server_loop: asyncio.AbstractEventLoop | None = None


def bind_server_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Remember the loop websocket consumers run on (called by each consumer on connect)."""
    global _server_loop
    _server_loop = loop


def emit(event: str, *, task_id: str, task_name: str = "", user_id: int | None = None, **data: Any) -> None:
    """Send one task event to the owner's group and the staff group. Never raises."""
    message = {"event": event, "task_id": task_id, "task_name": task_name, "at": timezone.now().isoformat(), **data}
    groups = [STAFF_GROUP] if user_id is None else [STAFF_GROUP, user_group(user_id)]
    for group in groups:
        try:
            _send(group, {"type": MESSAGE_TYPE, "event": message})
        except Exception:
            logger.warning("could not send task event %s of %s to %s", event, task_id, group, exc_info=True)


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer's queues belong to the server's event loop and are not
        # thread-safe; a task thread must hand the send to that loop, not run it in a
        # private loop of its own (the consumer would never wake up).
        loop = _server_loop
        if loop is None or loop.is_closed():
            return  # no websocket has connected in this process: nobody to tell
    else:
        # channels-redis keeps a connection pool per event loop: one long-lived loop per
        # process reuses it (async_to_sync would build a loop and connect for every
        # event, some 4 ms each, which adds up at many reports a second).
        loop = _sender_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(layer.group_send(group, message))
    else:
        # Waiting for each send keeps a task's events in the order they were sent.
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=5)


_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for channel-layer sends, in a daemon thread (started
    again in a forked child, such as a prefork pool process, where the thread is gone)."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="task-events", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]

"""enqueue(): a thread pool without a broker, apply_async with one, after commit."""

from __future__ import annotations

import threading

import pytest
from celery import shared_task

from tasks_app import queue

_ran: list[tuple[str, int]] = []
_gate = threading.Event()


@shared_task(bind=True)
def _record(self, value: int, wait: bool = False) -> int:
    if wait:
        _gate.wait(5)
    _ran.append((threading.current_thread().name, value, self.request.id))
    return value * 2


@pytest.fixture(autouse=True)
def clean():
    _ran.clear()
    _gate.clear()
    yield
    _gate.set()
    queue.wait_inline(5)


def test_inline_mode_returns_at_once_and_runs_in_a_task_thread(settings, db):
    settings.TASKS_EAGER = False
    task_id = queue.enqueue(_record, 21, wait=True)
    assert task_id and _ran == []  # still waiting on the gate: enqueue did not block
    _gate.set()
    assert queue.wait_inline(5)
    ((thread_name, value, request_id),) = _ran
    assert thread_name.startswith("vframe-task-staff") and value == 21 and request_id == task_id


def test_eager_mode_runs_in_the_calling_thread(settings):
    settings.TASKS_EAGER = True
    task_id = queue.enqueue(_record, 3, task_id="fixed-id")
    assert task_id == "fixed-id" and _ran == [(threading.current_thread().name, 3, "fixed-id")]


def test_with_a_broker_it_is_apply_async(settings, monkeypatch):
    settings.TASKS_INLINE = False
    calls = []

    class Result:
        id = "broker-id"

    monkeypatch.setattr(_record, "apply_async", lambda args, kwargs, task_id: calls.append((args, kwargs, task_id)) or Result())
    assert queue.enqueue(_record, 1, wait=False, task_id="given") == "broker-id"
    assert calls == [((1,), {"wait": False}, "given")]


def test_enqueue_on_commit_waits_for_the_commit(settings, db, django_capture_on_commit_callbacks):
    settings.TASKS_EAGER = True
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queue.enqueue_on_commit(_record, 5)
    assert _ran == [] and len(callbacks) == 1
    callbacks[0]()
    assert [v for _, v, _ in _ran] == [5]


def test_the_staff_lane_runs_while_the_users_lane_is_full(settings, db):
    """Curators' tasks fill only their own pool: a staff or system task still starts."""
    settings.TASKS_EAGER = False
    settings.TASKS_INLINE_WORKERS = 2
    blocking = [queue.enqueue(_record, n, wait=True, lane=queue.USER_LANE) for n in (1, 2, 3)]
    staff_id = queue.enqueue(_record, 9, lane=queue.STAFF_LANE)
    threading.Event().wait(0.5)
    ran = {request_id: (thread, value) for thread, value, request_id in _ran}
    assert staff_id in ran and ran[staff_id][0].startswith("vframe-task-staff"), ran  # the users' lane is still blocked
    assert not set(blocking) & set(ran)
    assert queue.inline_task_ids() == set(blocking)
    _gate.set()
    assert queue.wait_inline(5) and queue.inline_task_ids() == set()

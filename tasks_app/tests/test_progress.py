"""The one progress reporter interface."""

from __future__ import annotations

import logging

from core.progress import NullReporter, Progress, ProgressReporter, as_reporter
from tasks_app import progress
from tasks_app.progress import CeleryTaskReporter


def test_base_reporter_keeps_the_last_report_and_logs_the_final_one(caplog):
    reporter = ProgressReporter("job", log_every=3600)
    with caplog.at_level(logging.INFO, logger="core.progress"):
        reporter(1, 10, "start")
        reporter(5, 10, "middle")
        reporter(10, 10, "done")
    assert reporter.last == Progress(10, 10, "done") and reporter.count == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "job: 1/10 start" and messages[-1] == "job: 10/10 done" and len(messages) == 2


def test_fraction_and_dict():
    assert Progress(5, 10).fraction == 0.5 and Progress(3, 0).fraction == 0.0
    assert Progress(1, 4, "x").as_dict() == {"current": 1, "total": 4, "message": "x", "fraction": 0.25}


def test_as_reporter_gives_a_silent_reporter_for_none():
    reporter = as_reporter(None)
    reporter(2, 3, "quiet")
    assert isinstance(reporter, NullReporter) and reporter.last == Progress(2, 3, "quiet")
    own = ProgressReporter()
    assert as_reporter(own) is own


class _FakeRequest:
    id = "task-123"


class _FakeTask:
    name = "search_app.tasks.build_index"
    request = _FakeRequest()

    def __init__(self):
        self.states = []

    def update_state(self, task_id=None, state=None, meta=None):
        self.states.append((task_id, state, meta))


def test_celery_reporter_updates_the_task_state_and_broadcasts(monkeypatch):
    seen = []
    monkeypatch.setattr(progress, "broadcast", lambda task_id, p: seen.append((task_id, p)))
    task = _FakeTask()
    reporter = CeleryTaskReporter(task)
    reporter(3, 7, "embedding")
    assert task.states == [("task-123", "PROGRESS", {"current": 3, "total": 7, "message": "embedding", "fraction": 0.4286})]
    assert seen == [("task-123", Progress(3, 7, "embedding"))]


def test_broadcast_hands_reports_to_the_task_service(monkeypatch):
    from tasks_app import services

    calls = []
    monkeypatch.setattr(services, "task_run_report_progress", lambda **kwargs: calls.append(kwargs))
    progress.broadcast("t1", Progress(1, 2, "m"))
    progress.broadcast(None, Progress(1, 2, "outside any task"))
    assert calls == [{"task_id": "t1", "current": 1, "total": 2, "message": "m"}]


def test_a_failing_result_backend_does_not_fail_the_work(monkeypatch):
    monkeypatch.setattr(progress, "broadcast", lambda *a: None)

    class Broken(_FakeTask):
        def update_state(self, **kwargs):
            raise ConnectionError("backend down")

    reporter = CeleryTaskReporter(Broken())
    reporter(1, 1, "done")
    assert reporter.last.current == 1

"""Task services: start, run (inline, eagerly, with Celery's own signals), report, cancel."""

from __future__ import annotations

import pytest

from core.errors import Conflict, ServiceUnavailable
from tasks_app import services
from tasks_app.events import STAFF_GROUP, TaskCancelled, user_group
from tasks_app.models import TaskRun, TaskState


def _events(sent, task_id):
    """Event names of one task as the staff group heard them."""
    return [e["event"] for group, e in sent if group == STAFF_GROUP and e["task_id"] == task_id]


def test_start_records_a_pending_run_and_queues_only_after_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.task_start(name="test", params={"steps": 2}, user=user)
    assert len(callbacks) == 1  # nothing is queued before the row is committed
    run.refresh_from_db()
    assert (run.state, run.name, run.user, run.params) == (TaskState.PENDING, "test", user, {"steps": 2, "interval": 1.0, "fail_at": None})


def test_inline_run_succeeds_with_progress_result_and_events_in_order(user, django_capture_on_commit_callbacks, sent_events):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.task_start(name="test", params={"steps": 2, "interval": 0}, user=user)
    run.refresh_from_db()
    assert run.state == TaskState.SUCCESS
    assert (run.progress_current, run.progress_total, run.progress_message) == (2, 2, "step 2 of 2")
    assert run.result["steps"] == 2 and run.worker.startswith("inline@") and run.started_at and run.finished_at
    # 0/2 and 2/2 (the first and the final report); 1/2 came too soon after 0/2 to be sent
    assert [(e["event"], e.get("current")) for g, e in sent_events if g == STAFF_GROUP] == [
        ("started", None),
        ("progress", 0),
        ("progress", 2),
        ("finished", None),
    ]
    # the owner's group hears the same as staff, nobody else is told
    assert {g for g, _ in sent_events} == {STAFF_GROUP, user_group(user.pk)}


def test_failing_run_keeps_the_error(user, django_capture_on_commit_callbacks, sent_events):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.task_start(name="test", params={"steps": 3, "interval": 0, "fail_at": 1}, user=user)
    run.refresh_from_db()
    assert run.state == TaskState.FAILURE
    assert run.error == "RuntimeError: Failed at step 1 of 3, as asked (fail_at=1)."
    assert _events(sent_events, run.task_id) == ["started", "progress", "failed"]
    assert sent_events[-1][1]["error"] == run.error


def test_unreachable_queue_is_a_503_and_the_run_says_it_never_started(user, monkeypatch, django_capture_on_commit_callbacks):
    import tasks_app.queue

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(tasks_app.queue, "enqueue", broker_down)
    with pytest.raises(ServiceUnavailable, match="task queue is unreachable"), django_capture_on_commit_callbacks(execute=True):
        services.task_start(name="test", params={}, user=user)
    run = TaskRun.objects.get(user=user)
    assert run.state == TaskState.FAILURE and run.error.startswith("Not started: ConnectionRefusedError")


def test_cancel_of_a_pending_task_is_immediate(user, sent_events):
    run = TaskRun.objects.create(task_id="t-pending", name="test", user=user)
    run = services.task_cancel(run=run)
    assert (run.state, run.cancel_requested) == (TaskState.REVOKED, True) and run.finished_at
    assert _events(sent_events, "t-pending") == ["cancelled"]
    with pytest.raises(Conflict):
        services.task_cancel(run=run)

    # A worker that did not hear the revoke gets it anyway: it stops at the first report, silently.
    services.task_run_mark_started(task_id="t-pending", celery_name="tasks_app.tasks.progress_demo", kwargs={})
    with pytest.raises(TaskCancelled):
        services.task_run_report_progress(task_id="t-pending", current=0, total=3)
    services.task_run_mark_failed(task_id="t-pending", celery_name="tasks_app.tasks.progress_demo", exc=TaskCancelled("x"))
    assert _events(sent_events, "t-pending") == ["cancelled"]


def test_cancel_of_a_running_task_takes_effect_at_its_next_report(user, sent_events, monkeypatch):
    monkeypatch.setattr(services, "CANCEL_CHECK_EVERY", 0)
    TaskRun.objects.create(task_id="t-run", name="test", user=user)
    services.task_run_mark_started(task_id="t-run", celery_name="tasks_app.tasks.progress_demo", kwargs={}, worker="w1@host")
    services.task_run_report_progress(task_id="t-run", current=1, total=5, message="one")

    run = services.task_cancel(run=TaskRun.objects.get(task_id="t-run"))
    assert (run.state, run.cancel_requested) == (TaskState.STARTED, True)
    with pytest.raises(TaskCancelled):
        services.task_run_report_progress(task_id="t-run", current=2, total=5)
    services.task_run_mark_failed(task_id="t-run", celery_name="tasks_app.tasks.progress_demo", exc=TaskCancelled("t-run"))
    # Celery's revoke arriving too must not announce it twice.
    services.task_run_mark_revoked(task_id="t-run", celery_name="tasks_app.tasks.progress_demo")

    run.refresh_from_db()
    assert run.state == TaskState.REVOKED and run.worker == "w1@host"
    assert (run.progress_current, run.progress_total) == (2, 5)
    assert _events(sent_events, "t-run") == ["started", "progress", "cancelled"]


def test_a_task_started_outside_the_api_gets_a_run_too(db, sent_events):
    services.task_run_mark_started(task_id="t-elsewhere", celery_name="search_app.tasks.build_index", kwargs={"feature_id": 3}, worker="w1@host")
    services.task_run_mark_succeeded(task_id="t-elsewhere", celery_name="search_app.tasks.build_index", result={"items": 10})
    run = TaskRun.objects.get(task_id="t-elsewhere")
    assert (run.name, run.params, run.user, run.state, run.result) == ("build_index", {"feature_id": 3}, None, TaskState.SUCCESS, {"items": 10})
    assert [g for g, _ in sent_events] == [STAFF_GROUP, STAFF_GROUP]  # no owner: staff only


def test_celery_housekeeping_tasks_are_not_tracked(db, sent_events):
    services.task_run_mark_started(task_id="t-cleanup", celery_name="celery.backend_cleanup", kwargs={})
    services.task_run_mark_succeeded(task_id="t-cleanup", celery_name="celery.backend_cleanup", result=None)
    assert not TaskRun.objects.filter(task_id="t-cleanup").exists() and sent_events == []


def test_progress_is_broadcast_and_stored_now_and_then_and_the_end_always(user, sent_events, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_BROADCAST_EVERY", 3600)
    monkeypatch.setattr(services, "PROGRESS_WRITE_EVERY", 3600)
    TaskRun.objects.create(task_id="t-many", name="test", user=user)
    services.task_run_mark_started(task_id="t-many", celery_name="tasks_app.tasks.progress_demo", kwargs={})
    for i in range(1, 50):
        services.task_run_report_progress(task_id="t-many", current=i, total=50)
    assert [e["current"] for g, e in sent_events if g == STAFF_GROUP and e["event"] == "progress"] == [1]
    assert TaskRun.objects.get(task_id="t-many").progress_current == 1
    services.task_run_report_progress(task_id="t-many", current=50, total=50, message="done")
    assert [e["current"] for g, e in sent_events if g == STAFF_GROUP and e["event"] == "progress"] == [1, 50]
    assert TaskRun.objects.get(task_id="t-many").progress_message == "done"

    monkeypatch.setattr(services, "PROGRESS_BROADCAST_EVERY", 0)
    services.task_run_report_progress(task_id="t-many", current=51, total=60)
    services.task_run_report_progress(task_id="t-many", current=52, total=60)
    assert [e["current"] for g, e in sent_events if g == STAFF_GROUP and e["event"] == "progress"][-2:] == [51, 52]
    services.task_run_mark_succeeded(task_id="t-many", celery_name="tasks_app.tasks.progress_demo", result=None)
    assert TaskRun.objects.get(task_id="t-many").progress_current == 52  # the last report is kept at the end


def test_a_dead_channel_layer_never_fails_the_task(user, django_capture_on_commit_callbacks, monkeypatch):
    from tasks_app import events

    def layer_down(group, message):
        raise ConnectionRefusedError("redis down")

    monkeypatch.setattr(events, "_send", layer_down)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.task_start(name="test", params={"steps": 1, "interval": 0}, user=user)
    run.refresh_from_db()
    assert run.state == TaskState.SUCCESS


def test_ingest_folder_task_imports_a_folder_once(staff, settings, tmp_path, image_bytes, django_capture_on_commit_callbacks, sent_events):
    settings.INGEST_WORKERS = 1  # eager runs share the test's transaction: no extra threads
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(image_bytes(seed=1))
    (folder / "b.png").write_bytes(image_bytes(seed=2, fmt="PNG"))
    (folder / "notes.txt").write_text("not an image")
    settings.INGEST_ALLOWED_DIRS = [str(tmp_path)]

    results = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            run = services.task_start(name="ingest_folder", params={"path": str(folder)}, user=staff)
        run.refresh_from_db()
        assert run.state == TaskState.SUCCESS, run.error
        results.append(run.result)
    first, again = results
    assert (first["images"], first["duplicates"], sum(first["skipped"].values())) == (2, 0, 1)
    assert (again["images"], again["duplicates"]) == (0, 2)  # a rerun adds nothing
    assert "progress" in _events(sent_events, run.task_id)


def test_a_busy_database_never_fails_the_work_through_its_progress(user, monkeypatch):
    from django.db import OperationalError

    TaskRun.objects.create(task_id="t-busy", name="test", user=user)
    services.task_run_mark_started(task_id="t-busy", celery_name="tasks_app.tasks.progress_demo", kwargs={})

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "_write_progress", locked)
    services.task_run_report_progress(task_id="t-busy", current=1, total=2)  # no exception


# --- Quotas, orphans, retention ---------------------------------------------------------------


def test_a_curator_may_have_only_so_many_tasks_queued_or_running(user, staff, settings, django_capture_on_commit_callbacks):
    from core.errors import DomainError

    settings.TASKS_PER_USER = 2
    with django_capture_on_commit_callbacks(execute=False):
        first = services.task_start(name="test", params={"steps": 1}, user=user)
        services.task_start(name="test", params={"steps": 1}, user=user)
        with pytest.raises(DomainError) as exc:
            services.task_start(name="test", params={"steps": 1}, user=user)
        assert exc.value.status == 429 and exc.value.code == "too_many_tasks" and "at most 2" in exc.value.message
        # Staff are not limited; a finished task frees its place.
        for _ in range(3):
            services.task_start(name="test", params={"steps": 1}, user=staff)
        TaskRun.objects.filter(pk=first.pk).update(state=TaskState.SUCCESS)
        services.task_start(name="test", params={"steps": 1}, user=user)
    assert TaskRun.objects.filter(user=user).count() == 3


def test_the_quota_is_a_429_in_the_api(api, user, settings):
    settings.TASKS_PER_USER = 1
    TaskRun.objects.create(task_id="busy", name="test", user=user, state=TaskState.STARTED, worker=services.inline_worker_name())
    res = api.post("/api/v1/task/test/", {"steps": 1}, format="json")
    assert res.status_code == 429 and res.json()["error"]["code"] == "too_many_tasks", res.content


def test_a_run_whose_worker_is_gone_is_marked_failed_and_frees_its_place(user, settings, sent_events):
    import os
    import subprocess
    import sys
    from datetime import timedelta

    from django.utils import timezone

    from tasks_app import presence

    settings.TASKS_PER_USER = 1
    long_ago = timezone.now() - timedelta(minutes=5)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    node = os.uname().nodename
    TaskRun.objects.create(task_id="gone-inline", name="test", user=user, state=TaskState.STARTED, worker=f"inline@{node}:{dead}", started_at=long_ago)
    TaskRun.objects.create(task_id="gone-celery", name="test", user=user, state=TaskState.STARTED, worker="w-dead@host", started_at=long_ago)
    TaskRun.objects.create(task_id="restarted", name="test", state=TaskState.STARTED, worker="w-back@host", started_at=long_ago)
    TaskRun.objects.create(task_id="alive", name="test", state=TaskState.STARTED, worker="w-alive@host", started_at=long_ago)
    TaskRun.objects.create(task_id="mine", name="test", state=TaskState.STARTED, worker=services.inline_worker_name(), started_at=long_ago)
    store = presence.presence_store()
    store.put(presence.WORKER, "w-alive@host", {"hostname": "w-alive@host", "since": long_ago.timestamp() - 60})
    store.put(presence.WORKER, "w-back@host", {"hostname": "w-back@host", "since": timezone.now().timestamp()})

    assert services.task_runs_reap_orphans() >= 3
    states = dict(TaskRun.objects.filter(task_id__in=["gone-inline", "gone-celery", "restarted", "alive", "mine"]).values_list("task_id", "state"))
    assert states == {"gone-inline": "FAILURE", "gone-celery": "FAILURE", "restarted": "FAILURE", "alive": "STARTED", "mine": "STARTED"}
    lost = TaskRun.objects.get(task_id="gone-celery")
    assert lost.error.startswith(services.WORKER_LOST) and "w-dead@host" in lost.error and lost.finished_at
    assert ("failed", "gone-celery") in [(e["event"], e["task_id"]) for _, e in sent_events]
    # Celery delivering the task again (acks_late) claims the row back.
    services.task_run_mark_started(task_id="gone-celery", celery_name="tasks_app.tasks.progress_demo", kwargs={}, worker="w-new@host")
    again = TaskRun.objects.get(task_id="gone-celery")
    assert (again.state, again.error, again.worker, again.finished_at) == (TaskState.STARTED, "", "w-new@host", None)


def test_old_finished_runs_are_pruned_with_their_files(user, settings):
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone
    from django_celery_results.models import TaskResult

    from tasks_app import hooks

    old, recent = timezone.now() - timedelta(days=40), timezone.now() - timedelta(days=2)
    TaskRun.objects.create(task_id="old-done", name="test", user=user, state=TaskState.SUCCESS, finished_at=old)
    TaskRun.objects.create(task_id="old-failed", name="test", state=TaskState.FAILURE, finished_at=old)
    TaskRun.objects.create(task_id="recent", name="test", state=TaskState.SUCCESS, finished_at=recent)
    TaskRun.objects.create(task_id="old-running", name="test", state=TaskState.STARTED, worker=services.inline_worker_name())
    TaskRun.objects.filter(task_id="old-running").update(created_at=old)
    TaskResult.objects.create(task_id="old-done", status="SUCCESS")
    TaskResult.objects.filter(task_id="old-done").update(date_done=old)
    told = []

    def record(runs):
        told.extend(r["task_id"] for r in runs)

    hooks.task_runs_pruned.register(record)
    try:
        # (>=: on PostgreSQL, task threads of other tests may have left old runs too)
        pruned = services.task_runs_prune(days=30)
        assert pruned["runs"] >= 2 and pruned["results"] >= 1
    finally:
        hooks.task_runs_pruned.unregister(record)
    assert {"old-done", "old-failed"} <= set(told) and not {"recent", "old-running"} & set(told)
    mine = TaskRun.objects.filter(task_id__in=["old-done", "old-failed", "recent", "old-running"])
    assert set(mine.values_list("task_id", flat=True)) == {"recent", "old-running"}
    out = io.StringIO()
    call_command("prune_tasks", "--days", "1", stdout=out)
    assert "task run(s)" in out.getvalue() and set(mine.values_list("task_id", flat=True)) == {"old-running"}

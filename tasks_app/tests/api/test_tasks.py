"""Task API: status codes, the envelope, permissions (in-process, inline tasks)."""

from __future__ import annotations

import pytest

from tasks_app import services
from tasks_app.models import TaskRun, TaskState


def test_anonymous_is_401(anon, db):
    for path in ("/api/v1/task/", "/api/v1/task/info/", "/api/v1/task/recent/", "/api/v1/socket/clients/"):
        assert anon.get(path).status_code == 401
    assert anon.post("/api/v1/task/test/", {}, format="json").status_code == 401


def test_list_shows_the_tasks_each_user_may_run_with_their_schemas(api, staff_api):
    body = api.get("/api/v1/task/").json()
    assert body["status"] == "ok"
    curator_tasks = {t["name"]: t for t in body["res"]}
    assert set(curator_tasks) == {"batch_search", "find_duplicates", "test"}
    assert not any(t["staff_only"] for t in curator_tasks.values())
    test = curator_tasks["test"]
    assert set(test["params"]["properties"]) == {"steps", "interval", "fail_at"}
    assert curator_tasks["find_duplicates"]["params"]["required"] == ["feature_id"]
    staff_tasks = {t["name"]: t for t in staff_api.get("/api/v1/task/").json()["res"]}
    assert set(staff_tasks) == {"build_index", "download_model", "ingest_folder", "media_words", "batch_search", "find_duplicates", "test"}
    assert staff_tasks["build_index"]["staff_only"] is True and staff_tasks["build_index"]["params"]["required"] == ["feature_id"]


def test_run_answers_202_with_the_id_at_once_and_queues_after_commit(api, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        res = api.post("/api/v1/task/run/", {"task_name": "test", "params": {"steps": 2}}, format="json")
    assert res.status_code == 202, res.json()
    started = res.json()["res"]
    assert started["name"] == "test" and started["state"] == "PENDING" and started["events"] == "/ws/v1/events/"
    assert TaskRun.objects.get(task_id=started["id"]).user == user
    assert len(queued) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task_name": "nope"}, "task_name"),
        ({"params": {}}, "task_name"),
        ({"task_name": "test", "params": {"steps": -1}}, "params"),
        ({"task_name": "test", "params": {"steps": 1, "colour": "red"}}, "params"),
        ({"task_name": "test", "params": [1]}, "params"),
    ],
)
def test_unknown_task_or_bad_params_is_400_with_the_reason(api, body, field):
    res = api.post("/api/v1/task/run/", body, format="json")
    assert res.status_code == 400
    error = res.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert not TaskRun.objects.filter(name="test").exists()


def test_staff_only_task_is_403_for_others_and_accepted_for_staff(api, staff_api, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.INGEST_ALLOWED_DIRS = [str(tmp_path)]
    body = {"task_name": "ingest_folder", "params": {"path": str(tmp_path)}}
    res = api.post("/api/v1/task/run/", body, format="json")
    assert res.status_code == 403 and res.json()["error"]["code"] == "permission_denied"
    with django_capture_on_commit_callbacks(execute=False):
        assert staff_api.post("/api/v1/task/run/", body, format="json").status_code == 202
    res = staff_api.post("/api/v1/task/run/", {"task_name": "ingest_folder", "params": {"path": "/etc"}}, format="json")
    assert res.status_code == 400 and "path" in res.json()["error"]["fields"]["params"]


def test_bodies_must_be_json_and_methods_right(api):
    assert api.post("/api/v1/task/run/", {"task_name": "test"}).status_code == 415  # multipart
    assert api.get("/api/v1/task/run/").status_code == 405
    assert api.get("/api/v1/task/test/").status_code == 405


def test_test_task_runs_and_its_status_tells_the_end(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        res = api.post("/api/v1/task/test/", {"steps": 2, "interval": 0}, format="json")
    assert res.status_code == 202
    task_id = res.json()["res"]["id"]
    run = api.get(f"/api/v1/task/{task_id}/").json()["res"]
    assert run["state"] == "SUCCESS" and run["progress"] == {"current": 2, "total": 2, "message": "step 2 of 2"}
    assert run["result"]["steps"] == 2 and run["user"] == "curator" and run["error"] == ""


def test_test_task_with_bad_params_is_400(api):
    res = api.post("/api/v1/task/test/", {"steps": 0}, format="json")
    assert res.status_code == 400 and "steps" in res.json()["error"]["fields"]["params"]


def test_a_task_is_visible_to_its_owner_and_staff_only(api, other_api, staff_api, user):
    TaskRun.objects.create(task_id="t-1", name="test", user=user)
    assert api.get("/api/v1/task/t-1/").status_code == 200
    assert staff_api.get("/api/v1/task/t-1/").status_code == 200
    assert other_api.get("/api/v1/task/t-1/").status_code == 404
    assert other_api.post("/api/v1/task/t-1/cancel/").status_code == 404
    assert api.get("/api/v1/task/no-such-task/").json()["error"]["code"] == "not_found"


def test_status_falls_back_to_celerys_record_when_the_worker_died(api, user):
    from django_celery_results.models import TaskResult

    TaskRun.objects.create(task_id="t-lost", name="test", user=user, state=TaskState.STARTED)
    TaskResult.objects.create(task_id="t-lost", status="FAILURE", traceback="Traceback...\nWorkerLostError: Worker exited prematurely: signal 9 (SIGKILL).")
    run = api.get("/api/v1/task/t-lost/").json()["res"]
    assert run["state"] == "FAILURE" and run["error"] == "WorkerLostError: Worker exited prematurely: signal 9 (SIGKILL)."


def test_recent_lists_own_tasks_newest_first_and_staff_sees_all(api, staff_api, user, other, django_assert_max_num_queries):
    for i in range(3):
        TaskRun.objects.create(task_id=f"mine-{i}", name="test", user=user)
    TaskRun.objects.create(task_id="theirs", name="test", user=other)
    res = api.get("/api/v1/task/recent/?sort=date&order=desc")
    assert res.status_code == 200
    page = res.json()["res"]
    assert page["count"] == 3 and [r["id"] for r in page["results"]] == ["mine-2", "mine-1", "mine-0"]
    with django_assert_max_num_queries(4):  # token, count, page (users joined)
        page = staff_api.get("/api/v1/task/recent/?limit=10").json()["res"]
    # (>=: tasks run by other tests' threads may have left rows without an owner)
    assert page["count"] >= 4 and {r["user"] for r in page["results"]} >= {"curator", "other"}
    assert api.get("/api/v1/task/recent/?limit=0").status_code == 400


def test_cancel_pending_is_200_running_is_202_finished_is_409(api, user):
    TaskRun.objects.create(task_id="t-p", name="test", user=user)
    services.task_run_mark_started(task_id="t-r", celery_name="tasks_app.tasks.progress_demo", kwargs={})
    TaskRun.objects.filter(task_id="t-r").update(user=user)

    res = api.post("/api/v1/task/t-p/cancel/")
    assert res.status_code == 200 and res.json()["res"]["state"] == "REVOKED"
    res = api.post("/api/v1/task/t-r/cancel/")
    assert res.status_code == 202 and res.json()["res"]["state"] == "STARTED" and res.json()["res"]["cancel_requested"] is True
    res = api.post("/api/v1/task/t-p/cancel/")
    assert res.status_code == 409 and res.json()["error"]["code"] == "task_finished"


def test_info_without_broker_reports_the_inline_pool(api, staff_api, user, other):
    TaskRun.objects.create(task_id="t-wait", name="test", user=user, params={"steps": 3})
    TaskRun.objects.create(task_id="t-theirs", name="test", user=other, params={"steps": 4})
    TaskRun.objects.create(task_id="t-theirs-running", name="test", user=other, state=TaskState.STARTED)
    info = api.get("/api/v1/task/info/").json()["res"]
    assert info["mode"] == "inline" and info["broker"] is None
    [worker] = info["workers"]
    # A curator sees their own tasks only (others' ids are not theirs to know), and
    # how many wait in the queue.
    assert worker["hostname"].startswith("inline@") and [t["id"] for t in worker["reserved"]] == ["t-wait"] and worker["active"] == []
    assert worker["reserved"][0]["kwargs"] is None  # parameters (server paths, say) are for staff
    assert info["queues"] == [{"name": "vframe", "waiting": 2}]
    [worker] = staff_api.get("/api/v1/task/info/").json()["res"]["workers"]
    assert [t["id"] for t in worker["reserved"]] == ["t-wait", "t-theirs"] and [t["id"] for t in worker["active"]] == ["t-theirs-running"]
    assert worker["reserved"][0]["kwargs"] == {"steps": 3}


def test_info_with_celery_lists_only_the_callers_own_tasks(api, staff_api, user, other, settings, monkeypatch):
    """The Celery path: what the workers report is filtered by the runs' owners."""
    from tasks_app import selectors

    TaskRun.objects.create(task_id="c-mine", name="test", user=user)
    TaskRun.objects.create(task_id="c-theirs", name="test", user=other)
    reported = {
        "active": {"w1@h": [{"id": "c-theirs", "name": "tasks_app.tasks.progress_demo", "kwargs": {"steps": 9}}]},
        "reserved": {"w1@h": [{"id": "c-mine", "name": "tasks_app.tasks.progress_demo", "kwargs": {"steps": 2}}]},
        "scheduled": {"w1@h": [{"eta": "2030-01-01T00:00:00", "request": {"id": "c-unknown", "name": "x"}}]},
    }

    class Inspect:
        def __getattr__(self, name):
            return lambda: reported.get(name, {"w1@h": []}) if name != "ping" else {"w1@h": {"ok": "pong"}}

    class Conn:
        default_channel = type("C", (), {"queue_declare": staticmethod(lambda **kw: (None, 5, None))})()

    from contextlib import contextmanager

    @contextmanager
    def connection():
        yield Conn()

    from vframe_search.celery import app

    settings.TASKS_INLINE = False
    monkeypatch.setattr("tasks_app.broker.broker_connection", connection)
    monkeypatch.setattr(app.control, "inspect", lambda **kw: Inspect())
    monkeypatch.setattr(selectors, "_present_worker_count", lambda: 1)
    [worker] = api.get("/api/v1/task/info/").json()["res"]["workers"]
    assert (worker["active"], [t["id"] for t in worker["reserved"]], worker["scheduled"]) == ([], ["c-mine"], [])
    info = staff_api.get("/api/v1/task/info/").json()["res"]
    [worker] = info["workers"]
    assert [t["id"] for t in worker["active"]] == ["c-theirs"] and worker["active"][0]["kwargs"] == {"steps": 9}
    assert [t["id"] for t in worker["scheduled"]] == ["c-unknown"] and worker["scheduled"][0]["eta"] == "2030-01-01T00:00:00"
    assert info["queues"] == [{"name": "vframe", "waiting": 5}]


def test_info_with_a_broker_but_no_worker_is_a_503_saying_so(api, settings, monkeypatch, redis_url):
    from vframe_search.celery import app

    settings.TASKS_INLINE = False
    settings.TASK_INFO_TIMEOUT = 0.3
    monkeypatch.setattr(app.conf, "broker_url", redis_url)
    res = api.get("/api/v1/task/info/")
    assert res.status_code == 503
    error = res.json()["error"]
    assert error["code"] == "no_worker" and "No Celery worker answered" in error["message"]


def test_info_with_celery_and_no_broker_is_a_quick_503(api, settings, monkeypatch):
    from tests.harness import closed_port_redis_url
    from vframe_search.celery import app

    settings.TASKS_INLINE = False
    monkeypatch.setattr(app.conf, "broker_url", closed_port_redis_url())
    res = api.get("/api/v1/task/info/")
    assert res.status_code == 503
    error = res.json()["error"]
    assert error["code"] == "broker_unavailable" and "unreachable" in error["message"]

"""Batch reverse search end to end with inline tasks: files and a ZIP in, bad files
skipped with their reasons, each query searched and recorded, and a CSV / HTML / ZIP
report that opens offline, linked from the task's result and hidden from other users."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import SearchRecord
from tasks_app.models import TaskRun, TaskState
from tests.images import make_image_bytes


@pytest.fixture(autouse=True)
def fresh_engine():
    engine.clear()
    yield
    engine.clear()


@pytest.fixture
def corpus(make_media, tiny_feature):
    media = [make_media(seed) for seed in range(15)]
    feature = tiny_feature(index_type="flat")
    feature_update_index(feature=feature)
    return media


def ok(res):
    assert res.status_code in (200, 201, 202), res.content
    return res.json()["res"]


def _jpeg(seed: int) -> bytes:
    # The same pattern as make_media(seed), re-encoded: a copy of that media.
    return make_image_bytes(96, 72, seed=seed, quality=70)


def _run(api, task_id: str) -> TaskRun:
    run = TaskRun.objects.get(task_id=task_id)
    assert run.state == TaskState.SUCCESS, (run.state, run.error)
    return run


def test_batch_from_files_and_zip_reports_matches_and_skips_bad_files(api, user, corpus, django_capture_on_commit_callbacks):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("copies/three.jpg", _jpeg(3))
        zf.writestr("copies/broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
        zf.writestr("notes.txt", b"hello")
        zf.writestr("copies/", b"")
    files = [
        SimpleUploadedFile("seven.jpg", _jpeg(7), content_type="image/jpeg"),
        SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        started = ok(api.post("/api/v1/search/batch/", {"files": files, "zip": SimpleUploadedFile("q.zip", archive.getvalue()), "k": 3}, format="multipart"))
    assert started["queries"] == 2
    skipped = {s["name"]: s["code"] for s in started["skipped"]}
    assert set(skipped) == {"empty.jpg", "copies/broken.jpg", "notes.txt"}, skipped
    assert skipped["empty.jpg"] == "empty_file"

    run = _run(api, started["task_id"])
    result = run.result
    assert result["queries"] == 2 and result["matches"] == 6
    assert {s["name"] for s in result["skipped"]} == set(skipped)
    assert run.progress_current == 2 and run.progress_total == 2

    # Each query was searched and recorded as a batch search by its user.
    records = SearchRecord.objects.filter(pk__in=result["record_ids"])
    assert records.count() == 2 and {r.route for r in records} == {"batch"} and {r.user_id for r in records} == {user.pk}

    # The report links travel with the run, as task/recent/ lists it.
    recent = ok(api.get("/api/v1/task/recent/", {"order": "desc"}))
    listed = next(r for r in recent["results"] if r["id"] == started["task_id"])
    assert listed["result"]["report"]["csv"] == f"/api/v1/search/batch/{started['task_id']}/report.csv"

    res = api.get(result["report"]["csv"])
    assert res.status_code == 200 and res["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(res.streaming_content).decode("utf-8-sig"))))
    firsts = {r["query_name"]: int(r["media_id"]) for r in rows if r["rank"] == "1"}
    assert firsts == {"seven.jpg": corpus[7].pk, "copies/three.jpg": corpus[3].pk}
    assert len(rows) == 6 and all(float(r["score"]) <= 1.0 for r in rows)

    res = api.get(result["report"]["html"])
    assert res.status_code == 200
    page = b"".join(res.streaming_content).decode()
    assert "seven.jpg" in page and corpus[7].sha256 in page and "data:image/jpeg;base64," in page
    assert "broken.jpg" in page  # skipped files are listed with their reason
    assert 'src="http' not in page and 'src="/' not in page  # opens offline

    res = api.get(result["report"]["zip"])
    with zipfile.ZipFile(io.BytesIO(b"".join(res.streaming_content))) as zf:
        assert set(zf.namelist()) == {"report.html", "report.csv", "searches.json"}


def test_batch_from_an_allowed_server_folder(corpus, user, tmp_path, settings, django_capture_on_commit_callbacks):
    from tasks_app.services import task_start

    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(_jpeg(5))
    (folder / "b.txt").write_text("no")
    settings.INGEST_ALLOWED_DIRS = [str(tmp_path)]
    with django_capture_on_commit_callbacks(execute=True):
        run = task_start(name="batch_search", params={"path": str(folder), "k": 1}, user=user)
    run.refresh_from_db()
    assert run.state == TaskState.SUCCESS, run.error
    assert run.result["queries"] == 1 and run.result["skipped"][0]["name"] == "b.txt"


def test_batch_refuses_folders_outside_the_allowed_ones_and_empty_requests(api, corpus, tmp_path, settings):
    settings.INGEST_ALLOWED_DIRS = [str(tmp_path / "allowed")]
    res = api.post("/api/v1/task/run/", {"task_name": "batch_search", "params": {"path": "/etc"}}, format="json")
    assert res.status_code == 400
    assert api.post("/api/v1/search/batch/", {}, format="multipart").status_code == 400
    bad = api.post("/api/v1/search/batch/", {"files": [SimpleUploadedFile("x.jpg", _jpeg(1))], "k": 0}, format="multipart")
    assert bad.status_code == 400 and "k" in bad.json()["error"]["fields"]
    only_bad = api.post("/api/v1/search/batch/", {"files": [SimpleUploadedFile("x.jpg", b"nope")]}, format="multipart")
    assert only_bad.status_code == 400


def test_someone_elses_batch_report_is_hidden(api, corpus, django_user_model, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    with django_capture_on_commit_callbacks(execute=True):
        started = ok(api.post("/api/v1/search/batch/", {"files": [SimpleUploadedFile("q.jpg", _jpeg(2))]}, format="multipart"))
    assert api.get(f"/api/v1/search/batch/{started['task_id']}/report.csv").status_code == 200
    other = django_user_model.objects.create_user(username="someone", password="pw-someone-1")
    client = APIClient()
    client.force_authenticate(other)
    assert client.get(f"/api/v1/search/batch/{started['task_id']}/report.csv").status_code == 404

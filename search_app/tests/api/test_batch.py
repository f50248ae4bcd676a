"""Batch reverse search end to end with inline tasks: files and a ZIP in, bad files
skipped with their reasons, each query searched and recorded, and a CSV / HTML / ZIP
report that opens offline, linked from the task's result and hidden from other users."""

from __future__ import annotations

import csv
import io
import json
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


# --- Bounded work: refused before it is done ----------------------------------------------------


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _post_zip(api, data: bytes, **form):
    return api.post("/api/v1/search/batch/", {"zip": SimpleUploadedFile("q.zip", data), **form}, format="multipart")


def _files(storage) -> set:
    return {p for p in storage.rglob("*") if p.is_file()} if storage.exists() else set()


@pytest.fixture
def nothing_stored(isolated_storage, corpus, user):
    """Call it after a refusal: no upload, task or file was added. (Runs are counted by
    their user: on PostgreSQL, task threads of other tests commit runs of their own.)"""
    from media_app.models import Upload

    before = _files(isolated_storage)

    def check() -> None:
        assert not Upload.objects.exists() and not TaskRun.objects.filter(user=user).exists()
        assert _files(isolated_storage) == before

    return check


def test_bzip2_bomb_of_the_issue_is_refused_from_its_directory_in_little_cpu(api, corpus, nothing_stored):
    """20 bzip2 members declaring 50 MiB each fit in a few KB; reading them cost 5.6 s
    of CPU. Their declared sizes are now summed from the central directory first."""
    import time

    bomb = _zip({f"m{i:02d}.jpg": b"\0" * (50 * 1024 * 1024) for i in range(20)}, zipfile.ZIP_BZIP2)
    assert len(bomb) < 8 * 1024
    cpu = time.process_time()
    res = _post_zip(api, bomb)
    cpu = time.process_time() - cpu
    assert res.status_code == 413 and res.json()["error"]["code"] == "zip_too_large", res.content
    assert cpu < 1.0, f"{cpu:.2f} s of CPU for a refusal"
    nothing_stored()


@pytest.mark.parametrize(
    ("method", "code"),
    [(zipfile.ZIP_BZIP2, "unsupported_compression"), (zipfile.ZIP_LZMA, "unsupported_compression"), (zipfile.ZIP_DEFLATED, "compression_ratio")],
)
def test_bomb_members_under_the_total_are_skipped_unread(api, corpus, nothing_stored, monkeypatch, method, code):
    real_open = zipfile.ZipFile.open
    read = []

    def counting_open(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            read.append(getattr(name, "filename", name))
        return real_open(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    bomb = _zip({f"m{i}.jpg": b"\0" * (20 * 1024 * 1024) for i in range(3)}, method)
    res = _post_zip(api, bomb)
    assert res.status_code == 400, res.content
    assert {line.split(": ")[0] for line in res.json()["error"]["fields"]["files"]} == {"m0.jpg", "m1.jpg", "m2.jpg"}
    assert read == []
    nothing_stored()
    # Beside a good image, the bomb is listed with its reason and only the image is read.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("good.jpg", _jpeg(1), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("bomb.jpg", b"\0" * (20 * 1024 * 1024), compress_type=method)
    started = ok(_post_zip(api, buf.getvalue()))
    assert started["queries"] == 1 and [(s["name"], s["code"]) for s in started["skipped"]] == [("bomb.jpg", code)]
    assert read == ["good.jpg"]


def test_a_zip_with_more_entries_than_allowed_is_a_413_before_its_directory_is_parsed(api, corpus, nothing_stored, settings, monkeypatch):
    settings.BATCH_ZIP_MAX_MEMBERS = 50
    sixty = _zip({f"{i}.jpg": b"x" for i in range(60)}, zipfile.ZIP_STORED)
    parsed = []
    real_init = zipfile.ZipFile.__init__
    monkeypatch.setattr(zipfile.ZipFile, "__init__", lambda self, *a, **kw: parsed.append(1) or real_init(self, *a, **kw))
    res = _post_zip(api, sixty)
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_many_members", res.content
    assert parsed == [], "the central directory was parsed before its size was checked"
    nothing_stored()


def test_a_zip_whose_end_record_understates_its_entries_is_still_a_413(api, corpus, nothing_stored, settings):
    settings.BATCH_ZIP_MAX_MEMBERS = 50
    data = bytearray(_zip({f"{i}.jpg": b"x" for i in range(60)}, zipfile.ZIP_STORED))
    end = data.rindex(b"PK\x05\x06")
    data[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2  # entries on this disk, entries in all: 1
    res = _post_zip(api, bytes(data))
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_many_members", res.content
    nothing_stored()


def test_a_body_above_the_batch_limit_is_a_413_before_it_is_parsed(api, corpus, nothing_stored, settings):
    settings.BATCH_MAX_BYTES = 100 * 1024
    big = SimpleUploadedFile("big.jpg", _jpeg(1) + b"\0" * (200 * 1024))
    res = api.post("/api/v1/search/batch/", {"files": [big]}, format="multipart")
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_large", res.content
    nothing_stored()


def test_files_above_the_batch_limit_together_are_a_413_even_without_a_content_length(corpus, user, nothing_stored, settings):
    from core.errors import PayloadTooLarge
    from search_app.analysis import batch

    settings.BATCH_MAX_BYTES = 100 * 1024
    files = [SimpleUploadedFile(f"{i}.jpg", b"\0" * (60 * 1024)) for i in range(2)]
    with pytest.raises(PayloadTooLarge):
        batch.batch_queries_from_request(files=files, archives=[], user=user)
    nothing_stored()


def test_the_query_cap_is_checked_before_any_file_is_read(api, corpus, isolated_storage, monkeypatch):
    from search_app.analysis import batch

    monkeypatch.setattr(batch, "MAX_QUERIES", 3)
    read = []
    real_read = batch._read_member
    monkeypatch.setattr(batch, "_read_member", lambda zf, info: read.append(info.filename) or real_read(zf, info))
    files = [SimpleUploadedFile("a.jpg", _jpeg(1))]
    archive = SimpleUploadedFile("q.zip", _zip({f"z{i}.jpg": _jpeg(i) for i in range(2, 8)}))
    started = ok(api.post("/api/v1/search/batch/", {"files": files, "zip": archive}, format="multipart"))
    assert read == ["z2.jpg", "z3.jpg"]
    assert started["queries"] == 3 and {s["name"] for s in started["skipped"]} == {"z4.jpg", "z5.jpg", "z6.jpg", "z7.jpg"}
    assert {s["code"] for s in started["skipped"]} == {"too_many"}


def test_a_zip_of_10000_tiny_files_keeps_the_task_row_small(api, corpus, settings):
    """Each skipped file used to be stored in the task's params: 10,000 one-byte files
    made a 1.4 MB task GET. Past the member limit the ZIP is refused; under a raised
    limit the skips are counted and only the first are listed."""
    tiny = _zip({f"f{i:05d}.jpg": b"x" for i in range(10_000)}, zipfile.ZIP_STORED)
    assert _post_zip(api, tiny).json()["error"]["code"] == "too_many_members"
    settings.BATCH_ZIP_MAX_MEMBERS = 20_000
    started = ok(_post_zip(api, _zip({"0-real.jpg": _jpeg(3), **{f"f{i:05d}.jpg": b"x" for i in range(10_000)}}, zipfile.ZIP_STORED)))
    from search_app.analysis.batch import MAX_QUERIES, MAX_SKIPPED_LISTED

    assert started["queries"] == 1 and started["skipped_count"] == 10_000 and len(started["skipped"]) == MAX_SKIPPED_LISTED
    run = TaskRun.objects.get(task_id=started["task_id"])
    assert len(json.dumps(run.params)) < 50_000 and run.params["skipped_count"] == 10_000
    assert sum(1 for s in run.params["skipped"] if s["code"] == "too_many") <= MAX_SKIPPED_LISTED < MAX_QUERIES
    assert len(api.get(f"/api/v1/task/{started['task_id']}/").content) < 100_000


# --- Limits that one request cannot get around --------------------------------------------------


def test_task_run_refuses_more_queries_than_a_batch_holds(api, corpus, user):
    from media_app.services import upload_create
    from search_app.analysis.batch import MAX_QUERIES

    upload, _ = upload_create(stream=io.BytesIO(_jpeg(4)), original_name="q.jpg", user=user)
    queries = [{"upload_id": upload.pk, "name": f"q{i}.jpg"} for i in range(MAX_QUERIES + 1)]
    res = api.post("/api/v1/task/run/", {"task_name": "batch_search", "params": {"queries": queries}}, format="json")
    assert res.status_code == 400 and "queries" in res.json()["error"]["fields"]["params"], res.content
    assert not TaskRun.objects.filter(user=user).exists() and not SearchRecord.objects.exists()


def test_skipped_entries_cannot_be_made_up_through_task_run(api, corpus, user):
    from media_app.services import upload_create

    upload, _ = upload_create(stream=io.BytesIO(_jpeg(4)), original_name="q.jpg", user=user)
    forged = [{"name": "evidence.jpg", "code": "tampered", "message": "This file was refused by the server."}]
    params = {"queries": [{"upload_id": upload.pk, "name": "q.jpg"}], "skipped": forged}
    res = api.post("/api/v1/task/run/", {"task_name": "batch_search", "params": params}, format="json")
    assert res.status_code == 400 and "skipped" in res.json()["error"]["fields"]["params"], res.content
    assert not TaskRun.objects.filter(user=user).exists()


@pytest.fixture
def low_rates(settings, user):
    from django.core.cache import cache

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"upload": "3/min", "search": "4/min"}}
    keys = [f"throttle_{scope}_{user.pk}" for scope in ("upload", "search")]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def test_a_batch_counts_each_image_against_the_upload_and_search_rates(api, corpus, low_rates, isolated_storage):
    from media_app.models import Upload

    two = {"files": [SimpleUploadedFile(f"{i}.jpg", _jpeg(i)) for i in (1, 2)]}
    ok(api.post("/api/v1/search/batch/", two, format="multipart"))
    # Two more images do not fit in 3 uploads a minute: refused before any is stored.
    more = {"files": [SimpleUploadedFile(f"{i}.jpg", _jpeg(i)) for i in (5, 6)]}
    res = api.post("/api/v1/search/batch/", more, format="multipart")
    assert res.status_code == 429 and res.json()["error"]["code"] == "throttled" and int(res["Retry-After"]) > 0, res.content
    assert Upload.objects.count() == 2
    # A batch larger than the rate itself can never fit: the message says so.
    five = {"files": [SimpleUploadedFile(f"{i}.jpg", _jpeg(i)) for i in range(7, 12)]}
    res = api.post("/api/v1/search/batch/", five, format="multipart")
    assert res.status_code == 429 and "at once" in res.json()["error"]["message"]
    assert Upload.objects.count() == 2


def test_task_run_counts_each_query_against_the_search_rate(api, corpus, user, low_rates):
    from media_app.services import upload_create

    upload, _ = upload_create(stream=io.BytesIO(_jpeg(4)), original_name="q.jpg", user=user)
    queries = [{"upload_id": upload.pk, "name": f"q{i}.jpg"} for i in range(5)]
    res = api.post("/api/v1/task/run/", {"task_name": "batch_search", "params": {"queries": queries}}, format="json")
    assert res.status_code == 429 and res.json()["error"]["code"] == "throttled", res.content
    assert not TaskRun.objects.filter(user=user).exists() and not SearchRecord.objects.exists()
    res = api.post("/api/v1/task/run/", {"task_name": "batch_search", "params": {"queries": queries[:4]}}, format="json")
    assert res.status_code == 202, res.content


def test_a_folder_batch_does_not_follow_links_out_of_the_allowed_folders(corpus, user, tmp_path, settings, django_capture_on_commit_callbacks):
    import os

    from media_app.models import Upload
    from tasks_app.services import task_start

    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (outside / "more").mkdir(parents=True)
    allowed.mkdir()
    (allowed / "a.jpg").write_bytes(_jpeg(5))
    (outside / "secret.jpg").write_bytes(_jpeg(6))
    (outside / "more" / "b.jpg").write_bytes(_jpeg(7))
    os.symlink(outside / "secret.jpg", allowed / "link.jpg")
    os.symlink(outside / "more", allowed / "more")
    settings.INGEST_ALLOWED_DIRS = [str(allowed)]
    with django_capture_on_commit_callbacks(execute=True):
        run = task_start(name="batch_search", params={"path": str(allowed), "k": 1}, user=user)
    run.refresh_from_db()
    assert run.state == TaskState.SUCCESS, run.error
    assert run.result["queries"] == 1
    assert {s["name"]: s["code"] for s in run.result["skipped"]} == {"link.jpg": "symlink_outside_allowed", "more": "symlink_outside_allowed"}
    assert list(Upload.objects.values_list("original_name", flat=True)) == ["a.jpg"]
    assert str(outside) not in json.dumps(run.result["skipped"])  # where the links lead is not told


def test_a_folder_batch_counts_its_images_against_the_rates_before_reading(corpus, user, tmp_path, settings, low_rates, django_capture_on_commit_callbacks):
    from media_app.models import Upload
    from tasks_app.services import task_start

    folder = tmp_path / "queries"
    folder.mkdir()
    for seed in range(5):
        (folder / f"{seed}.jpg").write_bytes(_jpeg(seed))
    settings.INGEST_ALLOWED_DIRS = [str(tmp_path)]
    with django_capture_on_commit_callbacks(execute=True):
        run = task_start(name="batch_search", params={"path": str(folder)}, user=user)
    run.refresh_from_db()
    assert run.state == TaskState.FAILURE and "throttled" in run.error.lower(), (run.state, run.error)
    assert not Upload.objects.exists() and not SearchRecord.objects.exists()


def test_pruning_a_batch_run_deletes_its_report_files(api, corpus, isolated_storage, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from tasks_app.services import task_runs_prune

    with django_capture_on_commit_callbacks(execute=True):
        started = ok(api.post("/api/v1/search/batch/", {"files": [SimpleUploadedFile("q.jpg", _jpeg(2))]}, format="multipart"))
    run = _run(api, started["task_id"])
    reports = [isolated_storage / name for name in run.result["files"].values()]
    assert all(p.is_file() for p in reports)
    TaskRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(days=60))
    assert task_runs_prune(days=30)["runs"] == 1
    assert not any(p.exists() for p in reports) and not reports[0].parent.exists()

"""Region search (box= on every search route), and the search record: one row per
answered search with what a reviewer needs to rerun it, browsable by staff only and
never editable."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import FeatureStatus, RegionVector, SearchRecord
from tests.images import make_image_bytes


@pytest.fixture(autouse=True)
def fresh_engine():
    engine.clear()
    yield
    engine.clear()


def _jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=95)
    return out.getvalue()


def _half(seed: int) -> Image.Image:
    return Image.open(io.BytesIO(make_image_bytes(96, 144, seed=seed))).convert("RGB")


@pytest.fixture
def halves(db, make_media, tiny_feature):
    """Two distinct images, each ingested alone, and one image made of both side by side
    (left | right), plus unrelated media."""
    from media_app.services import media_create_image

    left, right = _half(901), _half(902)
    both = Image.new("RGB", (192, 144))
    both.paste(left, (0, 0))
    both.paste(right, (96, 0))
    made = {}
    for name, img in (("left", left), ("right", right), ("both", both)):
        made[name], _ = media_create_image(stream=io.BytesIO(_jpeg(img)), original_name=f"{name}.jpg")
    others = [make_media(seed) for seed in range(12)]
    feature = tiny_feature(index_type="flat")
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY
    made["others"] = others
    made["feature"] = feature
    made["both_bytes"] = _jpeg(both)
    return made


def ok(res):
    assert res.status_code in (200, 201, 202), res.content
    body = res.json()
    assert body["status"] == "ok"
    return body["res"]


def err(res, status):
    assert res.status_code == status, res.content
    return res.json()["error"]


def _rank_of(res, media_id):
    ids = [r["media"]["id"] for r in res["results"]]
    return ids.index(media_id) + 1 if media_id in ids else None


def _score_of(res, media_id):
    return next(r["score"] for r in res["results"] if r["media"]["id"] == media_id)


@pytest.mark.parametrize(
    "box",
    ["0,0,1", "a,b,c,d", "0,0,1,1,1", "0.5,0,0.4,1", "0,0.6,1,0.5", "-0.1,0,1,1", "0,0,1,1.2", "0,0,0.01,1", "nan,0,1,1", "0,0,1,inf"],
)
def test_bad_boxes_are_400_naming_box(api, halves, box):
    error = err(api.get(f"/api/v1/search/media/{halves['both'].pk}/", {"box": box}), 400)
    assert "box" in error["fields"], error


def test_region_search_ranks_the_image_of_that_region_first(api, halves):
    both, left, right = halves["both"], halves["left"], halves["right"]
    full = ok(api.get(f"/api/v1/search/media/{both.pk}/", {"limit": 20}))
    res_left = ok(api.get(f"/api/v1/search/media/{both.pk}/", {"box": "0,0,0.5,1", "limit": 20}))
    res_right = ok(api.get(f"/api/v1/search/media/{both.pk}/", {"box": "0.5,0,1,1", "limit": 20}))
    assert res_left["results"][0]["media"]["id"] == left.pk
    assert res_right["results"][0]["media"]["id"] == right.pk
    # The crop matches its half better than the whole image does.
    assert _score_of(res_left, left.pk) > _score_of(full, left.pk)
    assert _score_of(res_right, right.pk) > _score_of(full, right.pk)
    assert res_left["query"]["box"] == [0.0, 0.0, 0.5, 1.0] and full["query"]["box"] is None
    # Self-exclusion still applies to a region query.
    assert _rank_of(res_left, both.pk) is None


def test_region_search_on_upload_sha256_and_random_and_the_crop_is_embedded_once(api, halves, monkeypatch):
    from search_app.query import sources

    up = ok(api.post("/api/v1/upload/", {"image": io.BytesIO(halves["both_bytes"])}, format="multipart"))
    upload_id = up["id"] if "id" in up else up["upload"]["id"]
    res = ok(api.get(f"/api/v1/search/upload/{upload_id}/", {"box": "0,0,0.5,1"}))
    assert res["results"][0]["media"]["id"] == halves["left"].pk and res["query"]["box"] == [0.0, 0.0, 0.5, 1.0]
    res = ok(api.get(f"/api/v1/search/sha256/{halves['both'].sha256}/", {"box": "0.5,0,1,1"}))
    assert res["results"][0]["media"]["id"] == halves["right"].pk
    ok(api.get("/api/v1/search/random/7/", {"box": "0.1,0.1,0.9,0.9"}))
    # Media and upload share the same bytes: one cached crop vector per box and model.
    assert RegionVector.objects.filter(sha256=halves["both"].sha256, box="0.0000,0.0000,0.5000,1.0000").count() == 1
    calls = []
    monkeypatch.setattr(sources, "embedder", lambda feature: calls.append(1) or pytest.fail("embedded again"))
    ok(api.get(f"/api/v1/search/media/{halves['both'].pk}/", {"box": "0,0,0.5,1", "offset": 5, "limit": 5}))
    assert calls == []


def test_every_search_is_recorded_with_what_reruns_it(api, user, halves):
    feature = halves["feature"]
    res = ok(api.get(f"/api/v1/search/media/{halves['both'].pk}/", {"box": "0,0,0.5,1", "limit": 4, "min_score": -1}))
    record = SearchRecord.objects.get(pk=res["record_id"])
    assert record.user == user and record.username == user.username
    assert record.route == "media" and record.query_type == "media" and record.query_media_id == halves["both"].pk
    assert record.query_sha256 == halves["both"].sha256
    assert record.box == [0.0, 0.0, 0.5, 1.0]
    assert record.feature_id == feature.pk and record.modelzoo_name == "tiny-random"
    assert record.weights_checksum == "random:0"
    assert record.index_version == feature.index_version and record.index_type == "flat"
    assert record.params["limit"] == 4 and record.params["offset"] == 0 and record.params["min_score"] == -1
    assert [(r["rank"], r["media_id"], r["score"]) for r in record.results] == [(h["rank"], h["media"]["id"], h["score"]) for h in res["results"]]
    ok(api.get(f"/api/v1/search/sha256/{halves['left'].sha256}/"))
    ok(api.get("/api/v1/search/random/abc/", {"offset": 2, "limit": 3}))
    assert list(SearchRecord.objects.order_by("pk").values_list("route", flat=True)) == ["media", "sha256", "random"]
    assert SearchRecord.objects.get(route="random").seed == "abc"
    # A failed search (bad input) records nothing.
    err(api.get(f"/api/v1/search/media/{halves['both'].pk}/", {"box": "1,1,0,0"}), 400)
    assert SearchRecord.objects.count() == 3


def test_records_are_staff_only_filterable_and_append_only(api, staff_api, staff, user, halves):
    ok(api.get(f"/api/v1/search/media/{halves['left'].pk}/"))
    ok(staff_api.get(f"/api/v1/search/media/{halves['right'].pk}/"))
    assert err(api.get("/api/v1/search/records/"), 403)["code"] == "permission_denied"
    page = ok(staff_api.get("/api/v1/search/records/", {"order": "desc", "sort": "id"}))
    assert page["count"] == 2 and page["results"][0]["username"] == staff.username
    assert page["results"][1]["rerun"].startswith(f"/api/v1/search/media/{halves['left'].pk}/?")
    assert ok(staff_api.get("/api/v1/search/records/", {"user": user.pk}))["count"] == 1
    assert ok(staff_api.get("/api/v1/search/records/", {"media": halves["right"].pk}))["count"] == 1
    err(staff_api.get("/api/v1/search/records/", {"media": "x"}), 400)
    for method in ("put", "patch", "delete", "post"):
        assert getattr(staff_api, method)("/api/v1/search/records/").status_code == 405
    assert SearchRecord.objects.count() == 2


def test_admin_shows_records_read_only(staff, halves, api, client):
    from django.contrib import admin

    ok(api.get(f"/api/v1/search/media/{halves['left'].pk}/"))
    model_admin = admin.site._registry[SearchRecord]
    record = SearchRecord.objects.get()

    class R:
        user = staff

    assert model_admin.has_view_permission(R(), record)
    assert not model_admin.has_change_permission(R(), record)
    assert not model_admin.has_delete_permission(R(), record)
    assert not model_admin.has_add_permission(R())
    client.force_login(staff)
    assert client.get(f"/admin/search_app/searchrecord/{record.pk}/change/").status_code == 200


def test_collection_export_carries_the_searches_that_found_its_items(api, staff_api, halves):
    import csv
    import json
    import zipfile

    res = ok(api.get(f"/api/v1/search/media/{halves['both'].pk}/", {"box": "0,0,0.5,1", "limit": 5}))
    hit = res["results"][0]
    collection = ok(api.post("/api/v1/collection/", {"title": "found"}, format="json"))
    ok(api.post(f"/api/v1/collection/{collection['id']}/media/", {"media_id": hit["media"]["id"], "search_record": res["record_id"]}, format="json"))
    # An item added without a search, and the refusals: unknown record, a record that did
    # not show the media, someone else's record.
    ok(api.post(f"/api/v1/collection/{collection['id']}/media/", {"media_id": halves["right"].pk}, format="json"))
    base = f"/api/v1/collection/{collection['id']}/media/"
    assert err(api.post(base, {"media_id": halves["others"][0].pk, "search_record": 10**9}, format="json"), 400)["fields"]["search_record"]
    shown = {r["media"]["id"] for r in res["results"]}
    unseen = next(m.pk for m in halves["others"] if m.pk not in shown)
    assert err(api.post(base, {"media_id": unseen, "search_record": res["record_id"]}, format="json"), 400)["fields"]["search_record"]
    theirs = ok(staff_api.get(f"/api/v1/search/media/{halves['left'].pk}/", {"limit": 20}))
    assert err(api.post(base, {"media_id": theirs["results"][0]["media"]["id"], "search_record": theirs["record_id"]}, format="json"), 400)

    response = api.get(f"/api/v1/collection/{collection['id']}/export/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    items = {row["id"]: row for row in json.loads(archive.read("manifest.json"))["items"]}
    row = items[hit["media"]["id"]]
    assert row["search_record"] == res["record_id"] and row["search_rank"] == 1 and row["search_score"] == hit["score"]
    assert row["search_model"] == "tiny-random" and row["search_weights_checksum"] == "random:0"
    assert row["search_index_version"] == halves["feature"].index_version
    assert "region 0,0,0.5,1" in row["search_query"]
    assert items[halves["right"].pk]["search_record"] is None
    searches = json.loads(archive.read("searches.json"))["searches"]
    assert [s["id"] for s in searches] == [res["record_id"]] and searches[0]["items"] == [hit["media"]["id"]]
    assert searches[0]["query"]["box"] == [0.0, 0.0, 0.5, 1.0]
    assert searches[0]["rerun"].startswith(f"/api/v1/search/media/{halves['both'].pk}/?") and "box=0%2C0%2C0.5%2C1" in searches[0]["rerun"]
    # Rerunning the recorded search gives the same page.
    again = ok(api.get(searches[0]["rerun"]))
    assert [(r["media"]["id"], r["score"]) for r in again["results"]] == [(r["media"]["id"], r["score"]) for r in res["results"]]
    csv_rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert {r["search_record"] for r in csv_rows} == {str(res["record_id"]), ""}
    for report in ("report.md", "report.html"):
        text = archive.read(report).decode()
        assert "How items were found" in text and "random:0" in text


def test_weights_checksum_is_the_sha256_of_the_weights_file(tmp_path, monkeypatch):
    import hashlib

    from search_app.query import records

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights" * 1000)
    monkeypatch.setattr("modelzoo.weights.resolve_weights", lambda spec: weights)
    assert records.weights_checksum("tiny-random") == "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    assert records.weights_checksum("no-such-model") == "unknown"


def test_kept_region_vectors_go_with_the_last_media_or_upload_of_their_picture(api, staff_api, halves, django_capture_on_commit_callbacks):
    """Region vectors are kept by sha256, shared by a media and an upload of the same
    bytes: deleting one keeps them for the other, deleting the last removes them, and
    other pictures' stay."""
    both, left = halves["both"], halves["left"]
    up = ok(api.post("/api/v1/upload/", {"image": io.BytesIO(halves["both_bytes"])}, format="multipart"))
    ok(api.get(f"/api/v1/search/upload/{up['id']}/", {"box": "0,0,0.5,1"}))
    ok(api.get(f"/api/v1/search/media/{left.pk}/", {"box": "0,0,0.5,0.5"}))
    assert RegionVector.objects.filter(sha256=both.sha256).count() == 1 and RegionVector.objects.filter(sha256=left.sha256).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        ok(staff_api.delete(f"/api/v1/media/id/{both.pk}/"))
    assert RegionVector.objects.filter(sha256=both.sha256).count() == 1  # the upload still shows it
    ok(api.get(f"/api/v1/search/upload/{up['id']}/", {"box": "0.5,0,1,1"}))
    with django_capture_on_commit_callbacks(execute=True):
        ok(api.delete(f"/api/v1/upload/{up['id']}/"))
    assert not RegionVector.objects.filter(sha256=both.sha256).exists()
    assert RegionVector.objects.filter(sha256=left.sha256).count() == 1


def test_the_migration_removes_region_vectors_left_behind_by_earlier_deletes(halves):
    import importlib

    from django.apps import apps

    from media_app.models import Upload

    migration = importlib.import_module("search_app.migrations.0007_forget_orphan_region_vectors")
    upload = Upload.objects.create(sha256="b" * 64, file="uploads/b.jpg")
    for sha in (halves["left"].sha256, upload.sha256, "a" * 64):
        RegionVector.objects.create(sha256=sha, modelzoo_name="tiny-random", box="0.0000,0.0000,0.5000,0.5000", vector=b"\0" * 8)
    migration.forget_orphans(apps, None)
    assert set(RegionVector.objects.values_list("sha256", flat=True)) == {halves["left"].sha256, upload.sha256}

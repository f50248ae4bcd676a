"""Near-duplicate routes: start a run, browse and export it, one media's group, the
perceptual-hash feature through the API, and side-by-side scores in search results."""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image

from search_app.analysis.duplicates import feature_duplicate_groups
from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import Feature

N = 10


@pytest.fixture(autouse=True)
def fresh_engine():
    engine.clear()
    yield
    engine.clear()


@pytest.fixture
def corpus(make_media, image_bytes):
    """N distinct images and two copies of image 0 (re-encoded JPEG, resized PNG)."""
    from media_app.services import media_create_image

    originals = [make_media(seed) for seed in range(N)]
    big = Image.open(io.BytesIO(image_bytes(96, 72, seed=0))).resize((160, 120))
    png = io.BytesIO()
    big.save(png, "PNG")
    copies = [
        media_create_image(stream=io.BytesIO(image_bytes(96, 72, seed=0, quality=55)), original_name="copy.jpg")[0],
        media_create_image(stream=io.BytesIO(png.getvalue()), original_name="copy.png")[0],
    ]
    return originals, copies


def build(modelzoo_name: str) -> Feature:
    feature = Feature.objects.create(modelzoo_name=modelzoo_name, index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    return feature


def ok(res, status=200):
    assert res.status_code == status, res.content
    body = res.json()
    assert body["status"] == "ok"
    return body["res"]


def err(res, status):
    assert res.status_code == status, res.content
    assert res.json()["status"] == "error"
    return res.json()["error"]


def test_phash_feature_builds_through_the_api_and_finds_the_copies_first(staff_api, api, corpus, django_capture_on_commit_callbacks):
    originals, copies = corpus
    with django_capture_on_commit_callbacks(execute=True):
        created = ok(staff_api.post("/api/v1/feature/", {"modelzoo_name": "phash"}, format="json"), 201)
    feature = ok(api.get(f"/api/v1/feature/{created['id']}/"))
    assert feature["status"] == "ready" and feature["item_count"] == N + 2 and feature["embedding_dim"] == 64
    res = ok(api.get(f"/api/v1/search/media/{originals[0].pk}/", {"feature": created["id"], "limit": 5}))
    assert {r["media"]["id"] for r in res["results"][:2]} == {c.pk for c in copies}
    assert res["results"][0]["score"] > 0.8 and res["results"][2]["score"] < 0.8
    assert "scores" not in res["results"][0]


def test_compare_feature_adds_both_scores_per_hit(api, corpus):
    originals, _ = corpus
    neural, phash = build("tiny-random"), build("phash")
    res = ok(api.get(f"/api/v1/search/media/{originals[0].pk}/", {"feature": neural.pk, "compare_feature": phash.pk, "limit": 5}))
    index = engine.get_index(phash)
    q = index.get_vectors([originals[0].pk])[0]
    for hit in res["results"]:
        assert set(hit["scores"]) == {str(neural.pk), str(phash.pk)}
        assert hit["scores"][str(neural.pk)] == hit["score"]
        expected = float(index.get_vectors([hit["media"]["id"]])[0] @ q)
        assert hit["scores"][str(phash.pk)] == pytest.approx(expected, abs=1e-5)
    err(api.get(f"/api/v1/search/media/{originals[0].pk}/", {"feature": neural.pk, "compare_feature": 999999}), 400)


def test_duplicates_routes_browse_export_and_answer_codes(api, anon, corpus):
    originals, copies = corpus
    feature = build("phash")
    url = f"/api/v1/feature/{feature.pk}/duplicates/"
    empty = ok(api.get(url))
    assert empty["run"] is None and empty["count"] == 0 and empty["results"] == []
    feature_duplicate_groups(feature=feature, threshold=0.8, k=5)
    page = ok(api.get(url))
    assert page["count"] == 1 and page["threshold"] == 0.8 and page["run"]["k"] == 5
    group = page["results"][0]
    assert group["size"] == 3 and {m["id"] for m in group["media"]} == {originals[0].pk, *(c.pk for c in copies)}
    assert group["media"][0]["thumbnail_url"].startswith("http")

    exported = api.get(url, {"export": "csv"})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert {int(r["media_id"]) for r in rows} == {originals[0].pk, *(c.pk for c in copies)} and rows[0]["group"] == "1"
    exported = api.get(url, {"export": "json", "limit": 1, "offset": 5})
    doc = ok(exported)
    assert doc["count"] == 1 and doc["offset"] == 0 and doc["results"][0]["size"] == 3 and "attachment" in exported["Content-Disposition"]

    err(api.get(url, {"threshold": 0.5}), 400)  # below the run's: its edges were not kept
    err(api.get(url, {"limit": 0}), 400)
    err(api.get(url, {"export": "xml"}), 400)
    err(api.get("/api/v1/feature/999999/duplicates/"), 404)
    err(api.post(url, {"threshold": 3}, format="json"), 400)
    err(api.post(url, {"k": 0}, format="json"), 400)
    err(anon.get(url), 401)


def test_post_starts_a_run_task_that_curators_may_run(api, corpus, django_capture_on_commit_callbacks):
    feature = build("phash")
    url = f"/api/v1/feature/{feature.pk}/duplicates/"
    with django_capture_on_commit_callbacks(execute=True):
        started = ok(api.post(url, {"threshold": 0.8, "k": 5}, format="json"), 202)
    assert started["name"] == "find_duplicates"
    page = ok(api.get(url))
    assert page["run"]["threshold"] == 0.8 and page["count"] == 1


def test_media_page_route_lists_the_group_of_that_media(api, corpus):
    originals, copies = corpus
    feature = build("phash")
    feature_duplicate_groups(feature=feature, threshold=0.8, k=5)
    res = ok(api.get(f"/api/v1/media/id/{copies[0].pk}/duplicates/", {"feature": feature.pk}))
    assert res["group"] == 1 and res["size"] == 3 and res["run"]["threshold"] == 0.8
    assert {r["media"]["id"] for r in res["results"]} == {originals[0].pk, copies[1].pk}
    assert all(r["score"] >= 0.8 for r in res["results"])
    alone = ok(api.get(f"/api/v1/media/id/{originals[4].pk}/duplicates/", {"feature": feature.pk}))
    assert alone["group"] is None and alone["results"] == []
    # Without feature=, the search default (the newest ready feature) answers.
    assert ok(api.get(f"/api/v1/media/id/{originals[4].pk}/duplicates/"))["feature_id"] == feature.pk
    err(api.get("/api/v1/media/id/999999/duplicates/"), 404)
    err(api.get(f"/api/v1/media/id/{originals[4].pk}/duplicates/", {"feature": "x"}), 400)


def test_media_and_groups_pages_render_their_sections(client, user, corpus):
    originals, _ = corpus
    client.force_login(user)
    page = client.get(f"/media/{originals[0].pk}/")
    assert page.status_code == 200 and b'id="media-duplicates"' in page.content
    groups = client.get("/duplicates/")
    assert groups.status_code == 200 and b"duplicates.js" in groups.content
    assert b'href="/duplicates/"' in client.get("/dashboard/").content


def test_groups_carry_their_members_ids_and_review_and_the_page_the_models_threshold(api, corpus, settings):
    originals, copies = corpus
    settings.DUPLICATE_THRESHOLDS = {}
    feature = build("phash")
    url = f"/api/v1/feature/{feature.pk}/duplicates/"
    assert ok(api.get(url))["default_threshold"] == 0.75
    feature_duplicate_groups(feature=feature, threshold=0.8, k=5)
    group = ok(api.get(url))["results"][0]
    assert group["review"] is None and sorted(group["media_ids"]) == sorted([originals[0].pk, *(c.pk for c in copies)])

    review = ok(api.post(f"{url}review/", {"media_ids": group["media_ids"], "keep": originals[0].pk}, format="json"))

    assert (review["reviewed_by"], review["keep"]) == ("curator", originals[0].pk)
    assert ok(api.get(url))["results"][0]["review"] == review
    assert ok(api.post(f"{url}review/", {"media_ids": group["media_ids"], "reviewed": False}, format="json")) is None
    assert "keep" in err(api.post(f"{url}review/", {"media_ids": group["media_ids"], "keep": originals[5].pk}, format="json"), 400)["fields"]
    err(api.post("/api/v1/feature/999999/duplicates/review/", {"media_ids": group["media_ids"]}, format="json"), 404)


def test_search_answers_render_as_their_declared_fields_do(api, staff_api, corpus, image_bytes, monkeypatch):
    """SearchResultSerializer builds the answer directly; for every kind of query and
    option that changes its shape (compared scores, detections, an upload, a seed, a
    box), it must equal DRF's field-by-field rendering of the declared fields, in the
    same key order."""
    from rest_framework import serializers

    from search_app.api.search_serializers import SearchResultSerializer

    direct = SearchResultSerializer.to_representation
    seen = []

    def both(self, instance):
        fast = direct(self, instance)
        assert fast == serializers.Serializer.to_representation(self, instance)
        assert list(fast) == list(self.fields) and all(list(h) == [n for n in self.fields["results"].child.fields if n in h] for h in fast["results"])
        seen.append(fast)
        return fast

    monkeypatch.setattr(SearchResultSerializer, "to_representation", both)
    originals, copies = corpus
    neural, phash = build("tiny-random"), build("phash")
    ok(api.get(f"/api/v1/search/media/{originals[0].pk}/", {"feature": neural.pk, "compare_feature": phash.pk, "limit": 5}))
    ok(api.get(f"/api/v1/search/media/{copies[1].pk}/", {"feature": neural.pk, "box": "0.1,0.2,0.8,0.9", "include_self": "true"}))
    ok(api.get("/api/v1/search/random/seven/", {"feature": neural.pk}))
    upload = ok(api.post("/api/v1/upload/", {"image": io.BytesIO(image_bytes(96, 72, seed=0, quality=40))}, format="multipart"), 201)
    ok(api.get(f"/api/v1/search/upload/{upload['id']}/", {"feature": neural.pk}))
    ok(staff_api.post("/api/v1/search/load_detection_model/detector-random/"))
    ok(api.get(f"/api/v1/search/media/{originals[1].pk}/", {"feature": neural.pk}))
    assert len(seen) == 5
    assert "scores" in seen[0]["results"][0] and seen[1]["query"]["box"] == [0.1, 0.2, 0.8, 0.9]
    assert seen[2]["query"]["seed"] == "seven" and seen[3]["query"]["upload"]["id"] == upload["id"]
    assert seen[3]["results"][0]["match"] in ("exact", "copy") and seen[4]["detections"]["items"]

"""The Search API: exact paging, filters, self-exclusion, random determinism, upload
and sha256 queries, feature selection shared through the database, detections, and
every error case with its status."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from collections_app.models import Collection, CollectionMedia
from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import Feature, FeatureStatus, QueryVector, SearchDefaults

N_MEDIA = 40


@pytest.fixture(autouse=True)
def fresh_engine():
    engine.clear()
    yield
    engine.clear()


@pytest.fixture
def corpus(make_media):
    return [make_media(seed) for seed in range(N_MEDIA)]


@pytest.fixture
def built(corpus, tiny_feature):
    feature = tiny_feature(index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY and feature.item_count == N_MEDIA
    return feature


def ok(res):
    assert res.status_code in (200, 201), res.content
    body = res.json()
    assert body["status"] == "ok"
    return body["res"]


def err(res, status):
    assert res.status_code == status, res.content
    body = res.json()
    assert body["status"] == "error"
    return body["error"]


def test_search_by_media_returns_ranked_scored_media_and_excludes_itself(api, built, corpus):
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/"))
    ids = [r["media"]["id"] for r in res["results"]]
    assert corpus[0].pk not in ids
    assert [r["rank"] for r in res["results"]] == list(range(1, len(ids) + 1))
    scores = [r["score"] for r in res["results"]]
    assert scores == sorted(scores, reverse=True)
    assert res["feature"]["id"] == built.pk and res["index_count"] == N_MEDIA
    assert res["query"]["type"] == "media" and res["query"]["media"]["id"] == corpus[0].pk
    assert res["results"][0]["media"]["thumbnail_url"].startswith("http")
    assert {"total", "knn"} <= set(res["timing_ms"])
    assert len(ids) == min(30, N_MEDIA - 1)


def test_scores_belong_to_their_own_items(api, built, corpus):
    """The original's bug: scores paired with the wrong images. Recompute each score
    from the stored vectors and compare."""
    from search_app.indexing.engine import get_index

    index = get_index(built)
    res = ok(api.get(f"/api/v1/search/media/{corpus[3].pk}/", {"limit": 20}))
    q = index.get_vectors([corpus[3].pk])[0]
    for hit in res["results"]:
        v = index.get_vectors([hit["media"]["id"]])[0]
        assert hit["score"] == pytest.approx(float(q @ v), abs=1e-4)


def test_include_self_puts_the_query_first(api, built, corpus):
    res = ok(api.get(f"/api/v1/search/media/{corpus[5].pk}/", {"include_self": "1"}))
    assert res["results"][0]["media"]["id"] == corpus[5].pk
    assert res["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)


def test_pages_continue_each_other_without_overlap_or_gap(api, built, corpus):
    full = ok(api.get(f"/api/v1/search/media/{corpus[1].pk}/", {"limit": 39}))["results"]
    paged = []
    for offset in range(0, 39, 7):
        page = ok(api.get(f"/api/v1/search/media/{corpus[1].pk}/", {"offset": offset, "limit": 7}))
        assert page["offset"] == offset and page["limit"] == 7
        assert [r["rank"] for r in page["results"]] == list(range(offset + 1, offset + 1 + len(page["results"])))
        paged += page["results"]
    assert [r["media"]["id"] for r in paged] == [r["media"]["id"] for r in full]
    assert len({r["media"]["id"] for r in paged}) == N_MEDIA - 1


def test_page_past_the_end_is_empty_not_an_error(api, built, corpus):
    res = ok(api.get(f"/api/v1/search/media/{corpus[1].pk}/", {"offset": 100, "limit": 10}))
    assert res["results"] == [] and res["has_more"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 4090, "limit": 30}, "offset"),
        ({"limit": "ten"}, "limit"),
        ({"media_type": "sound"}, "media_type"),
        ({"min_score": 2}, "min_score"),
        ({"group": "album"}, "group"),
        ({"collection": 999999}, "collection"),
        ({"include_self": "perhaps"}, "include_self"),
    ],
)
def test_bad_search_parameters_are_400_naming_the_field(api, built, corpus, params, field):
    error = err(api.get(f"/api/v1/search/media/{corpus[0].pk}/", params), 400)
    assert field in error["fields"]


def test_min_score_and_collection_filters(api, built, corpus):
    coll = Collection.objects.create(title="leads")
    members = corpus[10:15]
    for m in members:
        CollectionMedia.objects.create(collection=coll, media=m)
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"collection": coll.pk}))
    assert sorted(r["media"]["id"] for r in res["results"]) == sorted(m.pk for m in members)
    all_hits = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"limit": 39}))["results"]
    threshold = all_hits[5]["score"]
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"min_score": threshold, "limit": 39}))
    assert all(r["score"] >= threshold for r in res["results"])
    assert len(res["results"]) >= 6


def test_media_type_filter(api, built, corpus):
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"media_type": "video_frame"}))
    assert res["results"] == []
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"media_type": "image"}))
    assert len(res["results"]) == 30


def test_random_seed_picks_the_same_query_every_time(api, built):
    a = ok(api.get("/api/v1/search/random/evidence-42/"))
    b = ok(api.get("/api/v1/search/random/evidence-42/"))
    assert a["query"]["seed"] == "evidence-42"
    assert a["query"]["media"]["id"] == b["query"]["media"]["id"]
    assert [r["media"]["id"] for r in a["results"]] == [r["media"]["id"] for r in b["results"]]
    others = {ok(api.get(f"/api/v1/search/random/s{i}/"))["query"]["media"]["id"] for i in range(8)}
    assert len(others) > 1


def test_sha256_search_finds_media_and_uploads(api, built, corpus, image_bytes):
    res = ok(api.get(f"/api/v1/search/sha256/{corpus[2].sha256}/"))
    assert res["query"]["media"]["id"] == corpus[2].pk
    upload = ok(api.post("/api/v1/upload/", {"image": io.BytesIO(image_bytes(80, 60, seed=999))}, format="multipart"))
    res = ok(api.get(f"/api/v1/search/sha256/{upload['sha256']}/"))
    assert res["query"]["type"] == "upload" and res["query"]["upload"]["id"] == upload["id"]
    err(api.get("/api/v1/search/sha256/" + "0" * 64 + "/"), 404)
    assert "sha256" in err(api.get("/api/v1/search/sha256/xyz/"), 400)["fields"]


def test_upload_of_a_reencoded_resized_copy_finds_its_original_first(api, built, corpus, image_bytes):
    original = Image.open(io.BytesIO(image_bytes(96, 72, seed=7)))
    copy = io.BytesIO()
    original.resize((80, 60)).save(copy, format="JPEG", quality=60)
    copy.seek(0)
    copy.name = "copy.jpg"
    upload = ok(api.post("/api/v1/upload/", {"image": copy}, format="multipart"))
    res = ok(api.get(f"/api/v1/search/upload/{upload['id']}/"))
    assert res["results"][0]["media"]["id"] == corpus[7].pk


def test_upload_is_embedded_once_and_the_vector_kept(api, built, monkeypatch, image_bytes):
    upload = ok(api.post("/api/v1/upload/", {"image": io.BytesIO(image_bytes(64, 64, seed=5000))}, format="multipart"))
    first = ok(api.get(f"/api/v1/search/upload/{upload['id']}/"))
    assert QueryVector.objects.filter(upload_id=upload["id"], modelzoo_name=built.modelzoo_name).count() == 1
    from search_app.query import sources

    def boom(*a, **k):
        raise AssertionError("the upload was embedded again")

    monkeypatch.setattr(sources, "_embed_stored_file", boom)
    second = ok(api.get(f"/api/v1/search/upload/{upload['id']}/"))
    assert [r["media"]["id"] for r in first["results"]] == [r["media"]["id"] for r in second["results"]]


def test_deleted_media_never_comes_back_in_results(api, staff_api, built, corpus):
    from media_app.services import media_delete

    hits = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/"))["results"]
    victim = hits[0]["media"]["id"]
    media_delete(media=type(corpus[0]).objects.get(pk=victim))
    hits = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"limit": 39}))["results"]
    assert victim not in [r["media"]["id"] for r in hits]


def test_unknown_query_items_are_404(api, built):
    err(api.get("/api/v1/search/media/999999/"), 404)
    err(api.get("/api/v1/search/upload/999999/"), 404)
    err(api.get("/api/v1/search/media/99999999999999999999999/"), 404)


def test_searching_without_any_ready_feature_is_409(api, corpus, tiny_feature):
    assert err(api.get(f"/api/v1/search/media/{corpus[0].pk}/"), 409)["code"] == "no_feature"
    feature = tiny_feature()
    assert err(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"feature": feature.pk}), 409)["code"] == "index_not_ready"
    Feature.objects.filter(pk=feature.pk).update(status=FeatureStatus.FAILED, error="weights missing")
    error = err(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"feature": feature.pk}), 409)
    assert error["code"] == "index_failed" and "weights missing" in error["message"]
    err(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"feature": 4242}), 404)


def test_load_selects_the_default_feature_for_every_process(api, staff_api, built, corpus, tiny_feature):
    other = tiny_feature(modelzoo_name="tiny-random", index_type="flat")
    feature_update_index(feature=other)
    res = ok(staff_api.post(f"/api/v1/search/load/{other.pk}/"))
    assert res["feature_id"] == other.pk
    assert SearchDefaults.objects.get(pk=1).default_feature_id == other.pk
    engine.clear()  # another process: nothing loaded, the choice comes from the database
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/"))
    assert res["feature"]["id"] == other.pk and res["feature"]["index_type"] == "flat"
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"feature": built.pk}))
    assert res["feature"]["id"] == built.pk
    err(staff_api.post("/api/v1/search/load/4242/"), 404)


def test_a_get_of_the_load_routes_changes_nothing_even_from_a_staff_session(staff, built, corpus, tiny_feature):
    """search/load/ and search/load_detection_model/ change what every user gets: a
    link a staff user follows (a GET, sent with the SameSite=Lax session cookie) must
    not change them, and a POST from a session needs the CSRF token."""
    from django.test import Client

    other = tiny_feature(modelzoo_name="tiny-random", index_type="flat")
    feature_update_index(feature=other)
    before = SearchDefaults.objects.filter(pk=1).values("default_feature_id", "detection_model").first()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    for path in (f"/api/v1/search/load/{other.pk}/", "/api/v1/search/load_detection_model/detector-random/"):
        res = browser.get(path)
        assert res.status_code == 405 and res.json()["error"]["code"] == "method_not_allowed"
        assert browser.post(path).status_code == 403  # no CSRF token: a forged form
    assert SearchDefaults.objects.filter(pk=1).values("default_feature_id", "detection_model").first() == before


def test_hnsw_and_flat_agree_on_the_top_hits(api, built, corpus, tiny_feature):
    flat = tiny_feature(index_type="flat")
    feature_update_index(feature=flat)
    a = ok(api.get(f"/api/v1/search/media/{corpus[4].pk}/", {"feature": built.pk, "limit": 10}))["results"]
    b = ok(api.get(f"/api/v1/search/media/{corpus[4].pk}/", {"feature": flat.pk, "limit": 10}))["results"]
    assert [r["media"]["id"] for r in a] == [r["media"]["id"] for r in b]


def test_info_reports_feature_model_index_and_memory(api, built, corpus):
    ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/"))
    info = ok(api.get("/api/v1/search/info/"))
    assert info["default_feature"]["id"] == built.pk
    assert info["model"]["name"] == "tiny-random" and info["model"]["random_weights"] is True
    loaded = {x["feature_id"]: x for x in info["loaded"]}
    assert loaded[built.pk]["count"] == N_MEDIA and loaded[built.pk]["memory_bytes"] > 0
    assert loaded[built.pk]["params"]["M"] == 8


def test_detection_model_adds_detections_to_search_responses(api, staff_api, built, corpus):
    err(staff_api.post("/api/v1/search/load_detection_model/no-such-model/"), 404)
    assert ok(staff_api.post("/api/v1/search/load_detection_model/detector-random/"))["detection_model"] == "detector-random"
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/"))
    det = res["detections"]
    assert det["model"] == "detector-random"
    assert det["items"], "the random-weight detector has a zero threshold, so it reports boxes"
    for item in det["items"]:
        assert set(item) == {"label", "label_id", "score", "box"}
        x1, y1, x2, y2 = item["box"]
        assert 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1


def test_detections_are_computed_without_their_cache_when_redis_is_down(api, staff_api, built, corpus, settings):
    from tests.harness import closed_port_redis_url

    ok(staff_api.post("/api/v1/search/load_detection_model/detector-random/"))
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": closed_port_redis_url()}}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {}}
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/"))
    assert res["results"] and res["detections"]["model"] == "detector-random" and res["detections"]["items"]


def test_detections_can_be_turned_off_again(api, staff_api, built, corpus):
    ok(staff_api.post("/api/v1/search/load_detection_model/detector-random/"))
    assert ok(staff_api.post("/api/v1/search/load_detection_model/none/"))["detection_model"] == "none"
    assert ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/"))["detections"] is None
    assert ok(api.get("/api/v1/search/info/"))["detection_model"] is None


def test_embedding_model_is_not_a_detection_model(staff_api, built):
    assert err(staff_api.post("/api/v1/search/load_detection_model/tiny-random/"), 400)["code"] == "not_a_detection_model"


def test_index_swap_while_queries_run_never_fails_a_search(api, built, corpus, make_media):
    """Rebuild the index (new versions) while threads query it through the engine the
    way every request does: no query fails, and the new version is swapped in.

    The threads see the Feature row as a request would (its current index_version),
    but without a database connection of their own: SQLite's shared in-memory test
    database cannot serve several threads."""
    import copy

    import numpy as np

    snapshot = {"feature": copy.copy(built)}
    query = engine.get_index(built).get_vectors([corpus[0].pk])[0]
    failures: list = []
    answered = [0]
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                index = engine.get_index(snapshot["feature"])
                ids, sims = index.search(query, 5)
                assert ids.size == 5 and np.all(np.diff(sims) <= 1e-6)
                answered[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for seed in range(100, 104):
            make_media(seed)
            feature_update_index(feature=built)
            built.refresh_from_db()
            snapshot["feature"] = copy.copy(built)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert answered[0] > 0
    engine.get_index(built, wait_for_new=True)
    res = ok(api.get(f"/api/v1/search/media/{corpus[0].pk}/", {"limit": 100}))
    assert res["index_count"] == N_MEDIA + 4
    assert res["feature"]["index_version"] == built.index_version

"""search/text/: words in pictures and labels with the image searches' paging, filters
and answer; bad queries refused with nothing stored; non-Latin words; an image query
filtered by words; CLIP text-to-image through the query-source layer."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import urlencode

import pytest

from collections_app.models import Collection, CollectionMedia
from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import Feature, FeatureStatus, QueryVector, SearchRecord
from search_app.query.records import search_record_as_dict
from text_app.ocr import OcrLine, OcrResult
from text_app.services import media_labels_store, media_ocr_store

URL = "/api/v1/search/text/"


@pytest.fixture(autouse=True)
def fresh_engine():
    engine.clear()
    yield
    engine.clear()


def ok(res):
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["status"] == "ok"
    return body["res"]


def err(res, status):
    assert res.status_code == status, res.content
    body = res.json()
    assert body["status"] == "error"
    return body["error"]


def read(media, *lines: str):
    """Store ``lines`` as the text read on ``media`` (each in its own box)."""
    ocr = [
        OcrLine(text=t, box=(0.1, 0.1 + 0.2 * i, 0.7, 0.2 + 0.2 * i), quad=((0.1, 0.1), (0.7, 0.1), (0.7, 0.2), (0.1, 0.2)), confidence=0.95)
        for i, t in enumerate(lines)
    ]
    media_ocr_store(media=media, result=OcrResult(lines=ocr, ms=1.0))
    return media


@pytest.fixture
def signs(make_media):
    """Six pictures with text: four say CHECKPOINT (one three times), one in Russian,
    one in Chinese."""
    media = [make_media(seed) for seed in range(6)]
    read(media[0], "CHECKPOINT CHECKPOINT", "checkpoint 7")
    read(media[1], "Road closed", "CHECKPOINT ahead")
    read(media[2], "checkpoint")
    read(media[3], "Checkpoint Charlie")
    read(media[4], "Министерство обороны", "КПП")
    read(media[5], "检查站", "坦克")
    return media


def test_a_word_search_answers_like_an_image_search_with_the_matching_lines_and_boxes(api, signs):
    res = ok(api.get(URL, {"q": "checkpoint"}))
    assert set(res) == {"record_id", "query", "feature", "index_count", "offset", "limit", "has_more", "results", "detections", "timing_ms"}
    assert res["query"] == {"type": "text", "q": "checkpoint", "label": None, "mode": "words"}
    assert res["feature"] is None and res["detections"] is None and res["index_count"] == 6
    ids = [r["media"]["id"] for r in res["results"]]
    assert sorted(ids) == sorted(m.pk for m in signs[:4]) and ids[0] == signs[0].pk
    assert [r["rank"] for r in res["results"]] == [1, 2, 3, 4] and not res["has_more"]
    second = next(r for r in res["results"] if r["media"]["id"] == signs[1].pk)
    assert [line["text"] for line in second["text"]] == ["CHECKPOINT ahead"]
    box = second["text"][0]["box"]
    assert box == pytest.approx([0.1, 0.3, 0.7, 0.4]) and second["text"][0]["confidence"] == pytest.approx(0.95)


def test_pages_are_slices_of_one_ranked_list(api, signs):
    everything = [r["media"]["id"] for r in ok(api.get(URL, {"q": "checkpoint", "limit": 50}))["results"]]
    pages = [ok(api.get(URL, {"q": "checkpoint", "offset": off, "limit": 1})) for off in range(4)]
    assert [p["results"][0]["media"]["id"] for p in pages] == everything
    assert [p["results"][0]["rank"] for p in pages] == [1, 2, 3, 4]
    assert [p["has_more"] for p in pages] == [True, True, True, False]
    assert ok(api.get(URL, {"q": "checkpoint", "offset": 4}))["results"] == []


def test_phrases_or_and_exclusions(api, signs):
    def ids(q):
        return sorted(r["media"]["id"] for r in ok(api.get(URL, {"q": q}))["results"])

    assert ids('"checkpoint ahead"') == [signs[1].pk]
    assert ids("checkpoint -charlie -road") == sorted([signs[0].pk, signs[2].pk])
    assert ids("charlie OR closed") == sorted([signs[1].pk, signs[3].pk])


def test_filters_by_collection_media_type_and_date(api, signs, user):
    collection = Collection.objects.create(title="border", user=user)
    CollectionMedia.objects.create(collection=collection, media=signs[2])
    assert [r["media"]["id"] for r in ok(api.get(URL, {"q": "checkpoint", "collection": collection.pk}))["results"]] == [signs[2].pk]
    assert ok(api.get(URL, {"q": "checkpoint", "media_type": "video_frame"}))["results"] == []
    today = dt.datetime.now(dt.UTC).date()
    assert len(ok(api.get(URL, {"q": "checkpoint", "date_from": today.isoformat(), "date_to": today.isoformat()}))["results"]) == 4
    assert ok(api.get(URL, {"q": "checkpoint", "date_from": (today + dt.timedelta(days=1)).isoformat()}))["results"] == []
    assert ok(api.get(URL, {"q": "checkpoint", "date_to": (today - dt.timedelta(days=1)).isoformat()}))["results"] == []
    assert "date_to" in err(api.get(URL, {"q": "checkpoint", "date_from": "2026-02-02", "date_to": "2026-02-01"}), 400)["fields"]


def test_non_latin_words_round_trip(api, signs):
    res = ok(api.get(URL, {"q": "министерство"}))
    assert [r["media"]["id"] for r in res["results"]] == [signs[4].pk]
    assert [line["text"] for line in res["results"][0]["text"]] == ["Министерство обороны"]
    res = ok(api.get(URL, {"q": "坦克"}))
    assert [r["media"]["id"] for r in res["results"]] == [signs[5].pk]
    assert res["results"][0]["text"][0]["text"] == "坦克" and res["query"]["q"] == "坦克"
    record = SearchRecord.objects.get(pk=res["record_id"])
    assert record.params["q"] == "坦克" and record.route == "text" and record.query_type == "text"


@pytest.mark.parametrize(
    "params, field, says",
    [
        ({"q": ""}, "q", "empty"),
        ({"q": "   "}, "q", "empty"),
        ({}, "q", "empty"),
        ({"q": "x" * 257}, "q", "at most 256"),
        ({"q": "tank & rifle"}, "q", "operator syntax"),
        ({"q": "tank:*"}, "q", "operator syntax"),
        ({"q": '"tank'}, "q", "Unbalanced"),
        ({"q": "tank OR"}, "q", "OR must stand"),
        ({"q": "tank AND rifle"}, "q", "AND is full-text operator syntax"),
        ({"label": "flying saucer"}, "label", "No ImageNet class"),
        ({"q": "tank", "limit": 0}, "limit", ""),
        ({"q": "tank", "offset": 4090, "limit": 10}, "offset", "4096"),
        ({"q": "tank", "min_score": 0.5}, "min_score", "label"),
    ],
)
def test_bad_queries_are_a_400_saying_what_is_wrong_and_nothing_is_stored(api, signs, params, field, says):
    before = SearchRecord.objects.count()
    error = err(api.get(URL, params), 400)
    assert field in error["fields"] and says in str(error)
    assert SearchRecord.objects.count() == before


def test_a_label_search_ranks_pictures_by_the_labels_probability(api, signs):
    tank, missile = 847, 657
    media_labels_store(media=signs[0], modelzoo_name="efficientnet_lite0", labels=[(tank, 0.4), (missile, 0.2)])
    media_labels_store(media=signs[1], modelzoo_name="efficientnet_lite0", labels=[(tank, 0.9)])
    media_labels_store(media=signs[2], modelzoo_name="efficientnet_lite0", labels=[(missile, 0.7)])
    res = ok(api.get(URL, {"label": "tank"}))
    assert [r["media"]["id"] for r in res["results"]] == [signs[1].pk, signs[0].pk]
    assert res["results"][0]["score"] == pytest.approx(0.9) and res["results"][0]["labels"] == [{"label": "tank", "label_id": tank, "score": 0.9}]
    assert [r["media"]["id"] for r in ok(api.get(URL, {"label": "tank", "min_score": 0.5}))["results"]] == [signs[1].pk]
    # Words and a label together: the label ranks, the words filter.
    res = ok(api.get(URL, {"label": "tank", "q": "road"}))
    assert [r["media"]["id"] for r in res["results"]] == [signs[1].pk] and res["results"][0]["text"][0]["text"] == "Road closed"


def test_the_record_reruns_the_same_search(api, signs):
    res = ok(api.get(URL, {"q": "checkpoint", "limit": 2, "offset": 1}))
    record = search_record_as_dict(SearchRecord.objects.get(pk=res["record_id"]))
    assert record["rerun"].startswith(URL + "?")
    again = ok(api.get(record["rerun"]))
    assert [r["media"]["id"] for r in again["results"]] == [r["media"]["id"] for r in res["results"]]


# --- combined: an image query filtered by words ---------------------------------------------


@pytest.fixture
def built(make_media, tiny_feature, signs):
    corpus = signs + [make_media(seed) for seed in range(100, 130)]
    feature = tiny_feature(index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY
    return feature, corpus


def test_an_upload_search_filtered_by_words_pages_exactly_over_the_matching_pictures(api, built, signs, image_bytes):
    upload = ok_created(api.post("/api/v1/upload/", {"image": io.BytesIO(image_bytes(80, 60, seed=999))}, format="multipart"))
    plain = ok(api.get(f"/api/v1/search/upload/{upload['id']}/", {"limit": 50}))
    res = ok(api.get(f"/api/v1/search/upload/{upload['id']}/", {"text": "checkpoint", "limit": 50}))
    ids = [r["media"]["id"] for r in res["results"]]
    assert sorted(ids) == sorted(m.pk for m in signs[:4])
    order = [r["media"]["id"] for r in plain["results"] if r["media"]["id"] in ids]
    assert ids == order  # the image ranking, limited to the words
    paged = [
        ok(api.get(f"/api/v1/search/upload/{upload['id']}/", {"text": "checkpoint", "offset": i, "limit": 1}))["results"][0]["media"]["id"] for i in range(4)
    ]
    assert paged == ids
    record = SearchRecord.objects.get(pk=res["record_id"])
    assert record.params["text"] == "checkpoint" and "text=checkpoint" in search_record_as_dict(record)["rerun"]


def test_an_image_search_with_a_bad_word_filter_is_a_400_and_stores_nothing(api, built, image_bytes):
    upload = ok_created(api.post("/api/v1/upload/", {"image": io.BytesIO(image_bytes(80, 60, seed=998))}, format="multipart"))
    QueryVector.objects.all().delete()
    before = SearchRecord.objects.count()
    error = err(api.get(f"/api/v1/search/upload/{upload['id']}/", {"text": "a | b"}), 400)
    assert "text" in error["fields"]
    assert SearchRecord.objects.count() == before and not QueryVector.objects.exists()


def ok_created(res):
    assert res.status_code in (200, 201), res.content
    return res.json()["res"]


# --- CLIP-style text to image ----------------------------------------------------------------


def test_clip_words_search_the_image_index_through_the_text_tower(api, make_media):
    for seed in range(12):
        make_media(seed)
    feature = Feature.objects.create(modelzoo_name="tiny-clip-random", index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    res = ok(api.get(URL, {"q": "a tank on a bridge", "mode": "clip", "limit": 5}))
    assert res["feature"]["id"] == feature.pk and res["feature"]["modelzoo_name"] == "tiny-clip-random"
    assert res["query"]["type"] == "text" and res["query"]["mode"] == "clip"
    assert len(res["results"]) == 5 and all(-1 <= r["score"] <= 1 for r in res["results"])
    scores = [r["score"] for r in res["results"]]
    assert scores == sorted(scores, reverse=True)
    page2 = ok(api.get(URL, {"q": "a tank on a bridge", "mode": "clip", "offset": 5, "limit": 5}))
    assert not {r["media"]["id"] for r in page2["results"]} & {r["media"]["id"] for r in res["results"]}
    russian = ok(api.get(URL, {"q": "танк на мосту", "mode": "clip", "limit": 3}))
    assert russian["query"]["q"] == "танк на мосту" and len(russian["results"]) == 3
    record = SearchRecord.objects.get(pk=russian["record_id"])
    assert record.feature_id == feature.pk and record.params["mode"] == "clip" and record.weights_checksum == "random:0"


def test_clip_without_weights_is_a_503_weights_missing(api, make_media, settings):
    make_media(1)
    feature = Feature.objects.create(modelzoo_name="clip_vit_b32", status=FeatureStatus.READY, index_version=1)
    error = err(api.get(URL, {"q": "tank", "mode": "clip", "feature": feature.pk}), 503)
    assert error["code"] == "weights_missing" and "clip_vit_b32" in error["message"]
    feature.delete()
    settings.ALLOW_RANDOM_WEIGHTS = False  # the tiny CLIP does not count either
    error = err(api.get(URL, {"q": "tank", "mode": "clip"}), 503)
    assert error["code"] == "weights_missing" and "modelzoo_download clip_vit_b32" in error["message"]


def test_clip_with_weights_but_no_feature_says_to_create_one(api):
    error = err(api.get(URL, {"q": "tank", "mode": "clip"}), 409)
    assert error["code"] == "no_clip_feature" and "tiny-clip-random" in error["message"]


def test_a_feature_without_a_text_tower_cannot_take_clip_words(api, built):
    feature, _ = built
    error = err(api.get(URL + "?" + urlencode({"q": "tank", "mode": "clip", "feature": feature.pk})), 400)
    assert error["code"] == "no_text_tower"

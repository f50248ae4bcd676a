"""Near-duplicate groups from the k-NN graph: planted copies are grouped, distinct
images are not, runs are stored and browsed at any threshold at or above their own."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PIL import Image

from core.errors import InvalidInput
from search_app.analysis.duplicates import duplicate_groups, feature_duplicate_groups, group_edges, media_duplicates
from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import Feature
from tests.images import make_image_bytes

N_DISTINCT = 12


def resized_copy(seed: int) -> bytes:
    img = Image.open(io.BytesIO(make_image_bytes(96, 72, seed=seed))).resize((160, 120), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def planted(make_media):
    """12 distinct images; seed 0 has a re-encoded and a resized copy, seed 1 a re-encoded one."""
    from media_app.services import media_create_image

    engine.clear()
    originals = [make_media(seed) for seed in range(N_DISTINCT)]

    def add(data: bytes, name: str):
        return media_create_image(stream=io.BytesIO(data), original_name=name)[0]

    copies = {
        0: [add(make_image_bytes(96, 72, seed=0, quality=55), "c0a.jpg"), add(resized_copy(0), "c0b.png")],
        1: [add(make_image_bytes(96, 72, seed=1, quality=60), "c1.jpg")],
    }
    feature = Feature.objects.create(modelzoo_name="phash", index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    yield feature, originals, copies
    engine.clear()


def test_planted_copies_are_grouped_and_singletons_are_not(planted):
    feature, originals, copies = planted
    meta = feature_duplicate_groups(feature=feature, threshold=0.8, k=5)
    assert meta["item_count"] == N_DISTINCT + 3 and meta["threshold"] == 0.8 and meta["k"] == 5
    run, used, groups, where = duplicate_groups(feature_id=feature.pk)
    assert run == meta and used == 0.8
    assert [set(g.media_ids) for g in groups] == [
        {originals[0].pk, *(c.pk for c in copies[0])},
        {originals[1].pk, copies[1][0].pk},
    ]
    assert groups[0].size == 3 and 0.8 <= groups[0].score_min <= groups[0].score_max <= 1.0
    for media in originals[2:]:
        assert media.pk not in where


def test_a_run_is_browsed_at_a_higher_threshold_but_not_a_lower_one(planted):
    feature, _, _ = planted
    feature_duplicate_groups(feature=feature, threshold=0.8, k=5)
    _, used, groups, _ = duplicate_groups(feature_id=feature.pk, threshold=1.0)
    assert used == 1.0 and all(g.score_min >= 1.0 for g in groups)
    with pytest.raises(InvalidInput):
        duplicate_groups(feature_id=feature.pk, threshold=0.5)


def test_media_duplicates_lists_the_other_members_with_their_scores(planted):
    feature, originals, copies = planted
    feature_duplicate_groups(feature=feature, threshold=0.8, k=5)
    run, _, group, scores = media_duplicates(feature=feature, media_id=originals[0].pk)
    assert group is not None and set(scores) == {c.pk for c in copies[0]}
    assert all(0.8 <= s <= 1.0 for s in scores.values())
    _, _, alone, none = media_duplicates(feature=feature, media_id=originals[5].pk)
    assert alone is None and none == {}


def test_no_run_yet_reads_as_none(planted):
    feature, originals, _ = planted
    run, _, groups, _ = duplicate_groups(feature_id=feature.pk)
    assert run is None and groups == ()


def test_bad_run_parameters_are_400(planted):
    feature, _, _ = planted
    with pytest.raises(InvalidInput):
        feature_duplicate_groups(feature=feature, threshold=2.0, k=5)
    with pytest.raises(InvalidInput):
        feature_duplicate_groups(feature=feature, threshold=0.9, k=0)


def test_union_find_joins_chains_and_keeps_the_score_range():
    a = np.array([1, 2, 10, 4], dtype=np.int64)
    b = np.array([2, 3, 11, 5], dtype=np.int64)
    s = np.array([0.95, 0.91, 0.99, 0.5], dtype=np.float32)
    groups = group_edges(a, b, s, threshold=0.9)
    assert [g.media_ids for g in groups] == [(1, 2, 3), (10, 11)]
    assert groups[0].score_min == pytest.approx(0.91) and groups[0].score_max == pytest.approx(0.95)


def test_csv_export_neutralises_spreadsheet_formulas_in_file_names(db):
    from media_app.services import media_create_image
    from search_app.analysis.duplicates import DuplicateGroup, duplicate_groups_csv

    names = ["=1+2.jpg", "@SUM(A1).png"]
    media = [media_create_image(stream=io.BytesIO(make_image_bytes(48, 36, seed=i)), original_name=name)[0] for i, name in enumerate(names)]
    group = DuplicateGroup(number=1, media_ids=tuple(m.pk for m in media), score_min=0.95, score_max=0.97)
    rows = list(csv.DictReader(io.StringIO("".join(duplicate_groups_csv([group])))))
    assert [r["original_name"] for r in rows] == ["'" + name for name in names]
    assert [int(r["media_id"]) for r in rows] == [m.pk for m in media] and rows[0]["group"] == "1"


# --- thresholds per model ---------------------------------------------------------------------


def test_each_model_has_its_measured_threshold_and_the_setting_overrides_it(settings):
    from search_app.analysis.duplicates import DEFAULT_THRESHOLD, default_threshold

    settings.DUPLICATE_THRESHOLDS = {}
    # Measured on the demo library (bench/duplicate_thresholds.py).
    assert default_threshold("efficientnet_lite0") == 0.9
    assert default_threshold("phash") == 0.75
    assert default_threshold("resnet18-random") == 0.995  # random weights find everything alike
    assert default_threshold("not-measured") == DEFAULT_THRESHOLD
    settings.DUPLICATE_THRESHOLDS = {"phash": 0.8}
    assert default_threshold("phash") == 0.8


def test_a_run_without_a_threshold_uses_the_models(planted, settings):
    feature, originals, copies = planted
    settings.DUPLICATE_THRESHOLDS = {}

    run = feature_duplicate_groups(feature=feature, k=5)

    assert run["threshold"] == 0.75
    _, used, groups, _ = duplicate_groups(feature_id=feature.pk)
    assert used == 0.75 and {originals[0].pk, *(c.pk for c in copies[0])} <= set(groups[0].media_ids)


def test_no_run_yet_reads_at_the_models_threshold(planted, settings):
    feature, _, _ = planted
    settings.DUPLICATE_THRESHOLDS = {}
    assert duplicate_groups(feature_id=feature.pk)[1] == 0.75


# --- reviews ------------------------------------------------------------------------------------


def test_a_group_is_marked_reviewed_with_the_member_to_keep_then_unmarked(planted):
    from search_app.analysis.duplicates import duplicate_review_set, duplicate_reviews, group_key

    feature, originals, copies = planted
    members = [originals[0].pk, *(c.pk for c in copies[0])]

    review = duplicate_review_set(feature=feature, media_ids=reversed(members), keep=originals[0].pk, username="ana")

    assert (review["reviewed_by"], review["keep"]) == ("ana", originals[0].pk)
    assert duplicate_reviews(feature_id=feature.pk) == {group_key(members): review}
    assert duplicate_review_set(feature=feature, media_ids=members, keep=None, username="bo")["keep"] is None  # idempotent, last word wins
    assert duplicate_review_set(feature=feature, media_ids=members, reviewed=False) is None
    assert duplicate_reviews(feature_id=feature.pk) == {}


@pytest.mark.parametrize("members, keep, field", [("one", None, "media_ids"), ("unknown", None, "media_ids"), ("pair", "outsider", "keep")])
def test_a_review_of_something_that_is_not_a_group_is_400(planted, members, keep, field):
    from search_app.analysis.duplicates import duplicate_review_set

    feature, originals, _ = planted
    ids = {"one": [originals[0].pk], "unknown": [originals[0].pk, 10**9], "pair": [originals[0].pk, originals[1].pk]}[members]
    with pytest.raises(InvalidInput) as raised:
        duplicate_review_set(feature=feature, media_ids=ids, keep=originals[5].pk if keep else None)
    assert field in raised.value.fields

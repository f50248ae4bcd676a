"""Match labels and region children without a model: label packing, deletions that
follow the parent, the order of the top results by label, and the label columns of
batch reports and search records."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from search_app.indexing import regions
from search_app.indexing.vectors import VectorStore
from search_app.query import matching
from search_app.query.ranking import Candidate


def test_region_labels_pack_their_media_and_number_and_stay_apart_from_media_ids():
    media = np.array([1, 42, 2**40], dtype=np.int64)
    labels = regions.region_labels(media, [1, 5, 3])
    assert regions.region_parents(labels).tolist() == media.tolist()
    assert regions.region_numbers(labels).tolist() == [1, 5, 3]
    assert (labels > regions.PARENT_MASK).all()
    with pytest.raises(ValueError):
        regions.region_labels([2**58], [1])


def test_a_media_deleted_in_the_parent_store_takes_its_regions_with_it(tmp_path):
    parents = VectorStore(tmp_path / "vectors", 4)
    store = regions.RegionStore(tmp_path / "regions", 4, parents)
    vectors = np.eye(4, dtype=np.float32)
    store.append(regions.region_labels([7, 7, 8, 9], [1, 2, 1, 1]), vectors)
    parents.add_deleted([7])
    live, _ = store.load()
    assert sorted(regions.region_parents(live).tolist()) == [8, 9]
    assert store.stats()["deleted"] == 2
    with pytest.raises(TypeError):
        store.add_deleted([8])


def _plan(labels: dict[int, str], verified: frozenset[int] = frozenset()) -> matching.MatchPlan:
    plan = matching.MatchPlan(index=None, vectors=np.zeros((1, 4), np.float32), keys=[""], boxes=[None], modelzoo_name="efficientnet_lite0")
    plan._score_match = lambda cand, row: matching.Match(labels.get(cand.media_id, matching.SIMILAR), verified=cand.media_id in verified)
    return plan


def test_the_top_results_are_grouped_by_label_and_the_rest_keep_their_order():
    kept = [Candidate(i, 1.0 - i / 100) for i in range(1, 16)]
    labels = {3: matching.COPY, 7: matching.EXACT, 9: matching.COPY, 12: matching.COPY}
    ordered = _plan(labels).finish(kept, rows={}, verify=False)
    assert [c.media_id for c in ordered[:10]] == [7, 3, 9, 1, 2, 4, 5, 6, 8, 10]
    # Past the top the list is untouched (12 stays where its score puts it).
    assert [c.media_id for c in ordered[10:]] == [11, 12, 13, 14, 15]
    # The same top, whatever page asks: a page past it sees the same items.
    again = _plan(labels).finish(kept, rows={}, verify=False, label_only=kept[10:13])
    assert [c.media_id for c in again] == [c.media_id for c in ordered]


def test_a_confirmed_copy_comes_before_one_labelled_by_its_score_alone():
    kept = [Candidate(i, 1.0 - i / 100) for i in range(1, 11)]
    ordered = _plan({2: matching.COPY, 5: matching.COPY}, verified=frozenset({5})).finish(kept, rows={}, verify=False)
    assert [c.media_id for c in ordered[:3]] == [5, 2, 1]


def test_labels_come_from_bytes_then_the_models_measured_threshold():
    plan = matching.MatchPlan(
        index=None, vectors=np.zeros((1, 4), np.float32), keys=[""], boxes=[None], query_sha256="a" * 64, modelzoo_name="efficientnet_lite0"
    )
    threshold = matching.COPY_SCORES["efficientnet_lite0"]

    def row(sha256: str, phash: int | None = None):
        return SimpleNamespace(sha256=sha256, phash=phash)

    assert plan._score_match(Candidate(1, 0.99), row("a" * 64)).label == matching.EXACT
    assert plan._score_match(Candidate(2, threshold), row("b" * 64)).label == matching.COPY
    assert plan._score_match(Candidate(3, threshold - 0.01), row("b" * 64)).label == matching.SIMILAR
    plan.modelzoo_name = "tiny-random"  # no threshold measured: only the checks say copy
    assert plan._score_match(Candidate(4, 0.999), row("b" * 64)).label == matching.SIMILAR


def test_a_result_found_by_its_hash_is_a_copy_when_its_row_agrees():
    plan = matching.MatchPlan(index=None, vectors=np.zeros((1, 4), np.float32), keys=[""], boxes=[None], modelzoo_name="tiny-random")
    plan.query_hashes = [0b1011, None]
    plan.evidence = {1: matching.Evidence(matching.hash_score(1), hash_bits=1), 2: matching.Evidence(0.9, hash_bits=0)}
    near = plan._score_match(Candidate(1, matching.hash_score(1)), SimpleNamespace(sha256="b" * 64, phash=0b1010))
    assert (near.label, near.verified, near.via) == (matching.COPY, True, "hash")
    # The hash table was older than the row: the row's own hash is far, no copy.
    far = plan._score_match(Candidate(2, 0.9), SimpleNamespace(sha256="c" * 64, phash=(1 << 40) - 1))
    assert (far.label, far.verified) == (matching.SIMILAR, False)
    assert matching.hash_score(0) == 1.0 and matching.hash_score(8) < 0.76


def test_batch_report_rows_and_search_records_carry_the_match_label_and_regions():
    from types import SimpleNamespace

    from search_app.analysis import batch
    from search_app.query import records

    match = matching.Match(matching.COPY, region=(0.25, 0.25, 0.75, 0.75), query_region=(0.0, 0.1, 1.0, 0.6), verified=True)
    outcome = SimpleNamespace(matches={5: match})
    assert records._match_fields(outcome, 5) == {"match": "copy", "region": [0.25, 0.25, 0.75, 0.75], "query_region": [0.0, 0.1, 1.0, 0.6], "verified": True}
    assert records._match_fields(outcome, 6) == {"match": "similar"}
    fields = batch._match_of(outcome, 5)
    media = SimpleNamespace(pk=5, sha256="c" * 64, media_type="image", original_name="x.jpg", source_path="/x.jpg")
    upload = SimpleNamespace(sha256="d" * 64, pk=1)
    rows = list(batch._report_rows([{"name": "q.jpg", "upload": upload, "record_id": 3, "matches": [{"rank": 1, "score": 0.7, **fields, "media": media}]}]))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["match"], row["region"], row["query_region"]) == ("copy", "0.2500,0.2500,0.7500,0.7500", "0.0000,0.1000,1.0000,0.6000")

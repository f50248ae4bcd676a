"""Index type milvus against a real Milvus engine (milvus-lite's binary, run by the
backend as it runs in a deployment): the same search API, exact paging, filters,
random picks, incremental adds and deletes, region vectors, resumable builds, and the
faults (Milvus unreachable, a collection dropped behind the app's back)."""

from __future__ import annotations

import hashlib
import time
import uuid

import numpy as np
import pytest
from django.core.management import call_command

from collections_app.models import Collection, CollectionMedia
from media_app.models import Media, MediaType
from search_app.indexing import engine
from search_app.indexing.backends import milvus
from search_app.indexing.backends.milvus import MilvusIndex, call
from search_app.indexing.build import feature_forget_media, feature_update_index
from search_app.indexing.layout import vector_store
from search_app.models import Feature, FeatureStatus

DIM = 64  # tiny-random's


@pytest.fixture(autouse=True)
def milvus_settings(settings, milvus_file):
    settings.MILVUS_URI = str(milvus_file)
    settings.MILVUS_TIMEOUT = 5.0
    # Collections of one test only: feature ids repeat between tests.
    settings.MILVUS_PREFIX = "t" + uuid.uuid4().hex[:12]
    engine.clear()
    yield settings
    engine.clear()


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(4, n // 20), DIM))
    return unit(centres[rng.integers(0, len(centres), n)] + 0.35 * rng.standard_normal((n, DIM)))


def add_media(n: int, *, start: int = 0, media_type: str = MediaType.IMAGE) -> list[Media]:
    rows = [
        Media(
            sha256=hashlib.sha256(f"milvus-test-{start + i}".encode()).hexdigest(),
            media_type=media_type,
            file=f"media/test/{start + i:06d}.jpg",
            width=64,
            height=48,
            format="JPEG",
            byte_size=1000,
            original_name=f"{start + i}.jpg",
        )
        for i in range(n)
    ]
    Media.objects.bulk_create(rows)
    return list(Media.objects.filter(sha256__in=[m.sha256 for m in rows]).order_by("pk"))


def store_vectors(feature: Feature, media: list[Media], vectors: np.ndarray) -> None:
    """What an ingest or an earlier build stored: the build has nothing to embed."""
    vector_store(feature.pk, DIM).append(np.asarray([m.pk for m in media], dtype=np.int64), vectors)


def build(feature: Feature, **kwargs) -> dict:
    result = feature_update_index(feature=feature, **kwargs)
    feature.refresh_from_db()
    return result


@pytest.fixture
def pair(db, tiny_feature):
    """The same 300 vectors in an hnsw feature and a milvus feature, both built."""
    media = add_media(300)
    vectors = clustered(300, seed=1)
    hnsw = tiny_feature(index_params={"M": 16, "ef_construction": 200, "ef": 128})
    mil = tiny_feature(index_type="milvus")
    for feature in (hnsw, mil):
        store_vectors(feature, media, vectors)
        build(feature)
        assert feature.status == FeatureStatus.READY, feature.error
    return hnsw, mil, media, vectors


def ok(res):
    assert res.status_code == 200, res.content
    return res.json()["res"]


def hits(res) -> list[int]:
    return [r["media"]["id"] for r in ok(res)["results"]]


def collection_count(name: str) -> int:
    rows = call(lambda c: c.query(name, filter="", output_fields=["count(*)"]), what="count")
    return int(rows[0]["count(*)"])


# --- building and searching ---------------------------------------------------------------------------


def test_a_milvus_feature_records_its_collection_and_holds_no_vectors_in_the_web_process(pair):
    hnsw, mil, media, _ = pair
    assert mil.milvus_collection == milvus.collection_name(mil.pk, 1) and mil.milvus_version == 1
    assert mil.item_count == 300 and collection_count(mil.milvus_collection) == 300
    assert hnsw.milvus_collection == ""

    index = engine.get_index(mil)
    assert isinstance(index, MilvusIndex) and index.memory_bytes == 0
    assert engine.get_index(hnsw).memory_bytes > 300 * DIM * 4
    assert media[5].pk in index and -1 not in index


def test_search_pages_filters_and_scores_match_the_hnswlib_feature(api, pair):
    hnsw, mil, media, vectors = pair
    query = media[7]
    first = {}
    for feature in (hnsw, mil):
        deep = hits(api.get(f"/api/v1/search/media/{query.pk}/", {"feature": feature.pk, "limit": 40}))
        page1 = hits(api.get(f"/api/v1/search/media/{query.pk}/", {"feature": feature.pk, "limit": 20}))
        page2 = hits(api.get(f"/api/v1/search/media/{query.pk}/", {"feature": feature.pk, "limit": 20, "offset": 20}))
        assert page1 + page2 == deep, "pages are slices of one list"
        assert query.pk not in deep
        first[feature.index_type] = deep
    # The same exact neighbours: brute force over the stored vectors.
    sims = vectors @ vectors[7]
    order = [media[i].pk for i in np.lexsort((np.arange(300), -sims)) if i != 7]
    assert first["milvus"][:10] == order[:10]
    assert len(set(first["milvus"]) & set(first["hnsw"])) >= 38

    res = ok(api.get(f"/api/v1/search/media/{query.pk}/", {"feature": mil.pk, "limit": 5}))
    assert res["feature"]["index_type"] == "milvus"
    for hit in res["results"]:
        j = next(i for i, m in enumerate(media) if m.pk == hit["media"]["id"])
        assert hit["score"] == pytest.approx(float(vectors[j] @ vectors[7]), abs=1e-4)

    collection = Collection.objects.create(title="members")
    members = [media[i] for i in range(0, 300, 3)]
    CollectionMedia.objects.bulk_create([CollectionMedia(collection=collection, media=m) for m in members])
    for feature in (hnsw, mil):
        found = hits(api.get(f"/api/v1/search/media/{query.pk}/", {"feature": feature.pk, "collection": collection.pk, "limit": 10}))
        assert found == [pk for pk in order if pk in {m.pk for m in members}][:10]
        scored = ok(api.get(f"/api/v1/search/media/{query.pk}/", {"feature": feature.pk, "min_score": 0.8, "limit": 100}))["results"]
        assert all(r["score"] >= 0.8 for r in scored)


def test_random_search_picks_the_same_media_for_the_same_seed(api, pair):
    _, mil, _, _ = pair
    a = ok(api.get("/api/v1/search/random/abc/", {"feature": mil.pk, "limit": 5}))
    b = ok(api.get("/api/v1/search/random/abc/", {"feature": mil.pk, "limit": 5}))
    assert a["query"]["media"]["id"] == b["query"]["media"]["id"]
    assert [r["media"]["id"] for r in a["results"]] == [r["media"]["id"] for r in b["results"]]


def test_incremental_adds_and_deletes_change_the_collection_in_place(api, pair, django_capture_on_commit_callbacks):
    from media_app.services import media_delete

    _, mil, media, vectors = pair
    more = add_media(40, start=1000)
    store_vectors(mil, more, clustered(40, seed=2))
    result = build(mil)
    assert result["mode"] == "incremental" and mil.milvus_collection == milvus.collection_name(mil.pk, 1)
    assert mil.index_version == 2 and mil.milvus_version == 2 and mil.item_count == 340
    assert collection_count(mil.milvus_collection) == 340

    # A copy of media[7]'s vector under a new media: its nearest neighbour, then deleted.
    twin = add_media(1, start=5000)
    store_vectors(mil, twin, vectors[7:8])
    build(mil)
    assert hits(api.get(f"/api/v1/search/media/{media[7].pk}/", {"feature": mil.pk, "limit": 1})) == [twin[0].pk]
    with django_capture_on_commit_callbacks(execute=True):
        media_delete(media=Media.objects.get(pk=twin[0].pk))
    # Gone from Milvus at once, before any rebuild.
    assert twin[0].pk not in engine.get_index(mil)
    assert twin[0].pk not in hits(api.get(f"/api/v1/search/media/{media[7].pk}/", {"feature": mil.pk, "limit": 5}))
    result = build(Feature.objects.get(pk=mil.pk))
    assert collection_count(milvus.collection_name(mil.pk, 1)) == 340


def test_a_build_that_dies_half_way_resumes_where_it_stopped(db, tiny_feature, monkeypatch):
    monkeypatch.setattr(milvus, "INSERT_BATCH", 50)
    media = add_media(400)
    feature = tiny_feature(index_type="milvus")
    store_vectors(feature, media, clustered(400, seed=3))

    def dies(done, total, phase):
        if phase == "indexing" and done >= 200:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        build(feature, reporter=dies)
    feature.refresh_from_db()
    target = milvus.collection_name(feature.pk, 1)
    assert feature.status == FeatureStatus.FAILED and feature.index_version == 0
    assert collection_count(target) == 200

    result = build(feature)
    assert result["mode"] == "resumed" and feature.status == FeatureStatus.READY
    assert feature.milvus_collection == target and collection_count(target) == 400
    assert milvus.collection_ids(target).tolist() == sorted(m.pk for m in media)


def test_region_vectors_are_children_of_their_media(api, pair):
    """Vectors a media owns beside its own (regions): searched apart from the whole
    vectors, mapped to their media, left alone by builds, and forgotten with the media."""
    _, mil, media, vectors = pair
    parent = media[11]
    labels = [(1 << 58) | parent.pk, (2 << 58) | parent.pk]
    written = milvus.MilvusBackend().add_parts(feature=mil, labels=labels, media_ids=[parent.pk] * 2, parts=[1, 2], vectors=unit(vectors[40:42] + 0.01))
    assert written == 2
    index = engine.get_index(mil)
    ids, _ = index.search(vectors[40], 5)
    assert not set(labels) & set(ids.tolist()), "whole-media searches see whole vectors only"
    parts, sims = index.knn(vectors[40:41], 2, parts=True)
    assert parts[0].tolist() == [labels[0], labels[1]] and sims[0][0] > 0.99
    assert index.media_of(np.asarray([labels[0], media[3].pk])).tolist() == [parent.pk, media[3].pk]
    assert index.live_ids().size == 300 and index.pick(12345) not in labels

    more = add_media(5, start=3000)
    store_vectors(mil, more, clustered(5, seed=9))
    assert build(mil)["mode"] == "incremental"
    assert index.present(labels).tolist() == labels, "an incremental build keeps the regions"

    feature_forget_media(media_ids=[parent.pk])
    assert index.present(labels).size == 0


def test_duplicates_and_live_ids_read_the_collection(pair):
    _, mil, media, _ = pair
    index = engine.get_index(mil)
    assert index.live_ids().tolist() == sorted(m.pk for m in media)
    assert index.present([media[0].pk, -5]).tolist() == [media[0].pk]


def test_moving_a_feature_between_hnswlib_and_milvus_rebuilds_and_drops_the_old_index(api, pair):
    from search_app.services import feature_update

    hnsw, mil, media, _ = pair
    hnsw_index = engine.get_index(hnsw)
    feature_update(feature=hnsw, index_type="milvus")
    # Until the collection is published, the hnswlib version answers: no downtime.
    res = ok(api.get(f"/api/v1/search/media/{media[2].pk}/", {"feature": hnsw.pk, "limit": 3}))
    assert res["feature"]["index_type"] == "hnsw" and len(res["results"]) == 3
    build(hnsw)
    moved = engine.get_index(hnsw)
    assert isinstance(moved, MilvusIndex) and moved is not hnsw_index and hnsw.milvus_collection
    assert moved.search(moved.get_vectors([media[2].pk])[0], 1)[0].tolist() == [media[2].pk]

    name = mil.milvus_collection
    feature_update(feature=mil, index_type="hnsw")
    build(mil)
    back = engine.get_index(mil)
    assert back.index_type == "hnsw" and mil.milvus_collection == ""
    assert not call(lambda c: c.has_collection(name), what="check")


def test_deleting_a_feature_drops_its_collections(pair, django_capture_on_commit_callbacks):
    from search_app.services import feature_delete

    _, mil, _, _ = pair
    name = mil.milvus_collection
    with django_capture_on_commit_callbacks(execute=True):
        feature_delete(feature=mil)
    assert not call(lambda c: c.has_collection(name), what="check")


# --- faults -------------------------------------------------------------------------------------------


def test_milvus_unreachable_answers_503_within_the_timeout_and_other_features_keep_working(api, pair, settings):
    from tests.harness import free_port

    hnsw, mil, media, _ = pair
    reachable = settings.MILVUS_URI
    settings.MILVUS_URI = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    settings.MILVUS_TIMEOUT = 1.0
    t0 = time.monotonic()
    res = api.get(f"/api/v1/search/media/{media[1].pk}/", {"feature": mil.pk})
    elapsed = time.monotonic() - t0
    assert res.status_code == 503, res.content
    assert res.json()["error"]["code"] == "index_unavailable"
    assert elapsed < 1.0 * 2 + 1.5, f"answered after {elapsed:.1f} s"
    assert hits(api.get(f"/api/v1/search/media/{media[1].pk}/", {"feature": hnsw.pk, "limit": 3}))

    # A build meanwhile fails and says why; once Milvus is back it resumes.
    more = add_media(10, start=2000)
    store_vectors(mil, more, clustered(10, seed=5))
    with pytest.raises(milvus.IndexUnavailable):
        build(mil)
    mil.refresh_from_db()
    assert mil.status == FeatureStatus.FAILED and "unreachable" in mil.error
    settings.MILVUS_URI = reachable
    build(mil)
    assert mil.status == FeatureStatus.READY and mil.item_count == 310 and collection_count(mil.milvus_collection) == 310


def _milvus_server(tmp_path, port: int):
    """The Milvus engine binary serving gRPC on a loopback port: a server the app reaches
    by URL, as it reaches a standalone Milvus."""
    import importlib.util
    import os
    import subprocess
    from pathlib import Path

    bin_dir = Path(list(importlib.util.find_spec("milvus_lite").submodule_search_locations)[0]) / "lib"
    env = {**os.environ, "LD_LIBRARY_PATH": str(bin_dir)}
    return subprocess.Popen([str(bin_dir / "milvus"), str(tmp_path / "server.db"), f"127.0.0.1:{port}", "ERROR"], env=env, cwd=tmp_path)


def test_a_milvus_server_that_goes_down_answers_503_within_the_timeout_and_is_used_again_when_back(api, db, tiny_feature, settings, tmp_path):
    from tests.harness import free_port, wait_for

    port = free_port()
    server = _milvus_server(tmp_path, port)
    try:
        settings.MILVUS_URI = f"http://127.0.0.1:{port}"
        settings.MILVUS_TIMEOUT = 1.0
        settings.MILVUS_INDEX = "IVF_FLAT"  # the engine binary of milvus-lite builds no HNSW

        def answers() -> bool:
            try:
                return bool(milvus.milvus_conn.client(fresh=True))
            except milvus.IndexUnavailable:
                return False

        wait_for(answers, timeout=60, what="the Milvus server", interval=0.5)
        media = add_media(50)
        feature = tiny_feature(index_type="milvus")
        store_vectors(feature, media, clustered(50, seed=4))
        build(feature)
        assert feature.status == FeatureStatus.READY, feature.error
        assert hits(api.get(f"/api/v1/search/media/{media[0].pk}/", {"feature": feature.pk, "limit": 3}))

        server.kill()
        server.wait()
        t0 = time.monotonic()
        res = api.get(f"/api/v1/search/media/{media[0].pk}/", {"feature": feature.pk})
        elapsed = time.monotonic() - t0
        assert res.status_code == 503 and res.json()["error"]["code"] == "index_unavailable", res.content
        assert elapsed < 4, f"answered after {elapsed:.1f} s"

        server = _milvus_server(tmp_path, port)
        wait_for(lambda: api.get(f"/api/v1/search/media/{media[0].pk}/", {"feature": feature.pk}).status_code == 200, timeout=60, what="searches to work again")
    finally:
        server.kill()
        server.wait()
        milvus.reset()


def test_a_collection_dropped_behind_the_apps_back_is_reported_and_rebuilt_with_one_command(api, pair):
    _, mil, media, _ = pair
    call(lambda c: c.drop_collection(mil.milvus_collection), what="drop")
    res = api.get(f"/api/v1/search/media/{media[1].pk}/", {"feature": mil.pk})
    assert res.status_code == 503
    error = res.json()["error"]
    assert error["code"] == "index_missing" and f"build_index {mil.pk} --rebuild" in error["message"]
    mil.refresh_from_db()
    assert mil.status == FeatureStatus.FAILED and "is gone" in mil.error

    call_command("build_index", str(mil.pk), "--rebuild", "--no-progress")
    mil.refresh_from_db()
    assert mil.status == FeatureStatus.READY and mil.milvus_collection == milvus.collection_name(mil.pk, 2)
    assert hits(api.get(f"/api/v1/search/media/{media[1].pk}/", {"feature": mil.pk, "limit": 3}))


def test_the_default_switches_to_a_milvus_feature_only_while_its_collection_answers(api, staff_api, pair):
    hnsw, mil, media, _ = pair
    assert staff_api.post(f"/api/v1/search/load/{mil.pk}/").status_code == 200
    res = ok(api.get(f"/api/v1/search/media/{media[4].pk}/", {"limit": 3}))
    assert res["feature"]["id"] == mil.pk and res["feature"]["index_type"] == "milvus"

    assert staff_api.post(f"/api/v1/search/load/{hnsw.pk}/").status_code == 200
    call(lambda c: c.drop_collection(mil.milvus_collection), what="drop")
    refused = staff_api.post(f"/api/v1/search/load/{mil.pk}/")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "index_unavailable"
    assert ok(api.get(f"/api/v1/search/media/{media[4].pk}/", {"limit": 3}))["feature"]["id"] == hnsw.pk

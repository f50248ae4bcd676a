"""Index files: validation, hnsw and flat builds keyed by media ids, incremental
updates, deletions, and the read side (LoadedIndex)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.errors import InvalidInput
from search_app.indexing.index import (
    IndexNotReady,
    load_index,
    load_index_version,
    read_meta,
    update_index_files,
    validate_index_params,
)
from search_app.indexing.layout import vector_store

DIM = 16
PARAMS = {"M": 8, "ef_construction": 64, "ef": 32}


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _exact(ids, vectors, q, k):
    sims = vectors @ q
    order = np.lexsort((ids, -sims))[:k]
    return ids[order]


@pytest.fixture
def feature_id(settings, tmp_path):
    settings.INDEX_DIR = tmp_path / "indexes"
    return 7


def _build(feature_id, index_type, current, params=PARAMS, **kw):
    from search_app.indexing.layout import feature_dir

    return update_index_files(
        directory=feature_dir(feature_id),
        store=vector_store(feature_id, DIM),
        index_type=index_type,
        params=params,
        current_version=current,
        new_version=current + 1,
        threads=1,
        **kw,
    )


# --- parameters -----------------------------------------------------------------------------


def test_params_default_and_merge():
    assert validate_index_params(None) == {"M": 16, "ef_construction": 200, "ef": 128}
    assert validate_index_params({"ef": 400}) == {"M": 16, "ef_construction": 200, "ef": 400}


@pytest.mark.parametrize(
    "params, key",
    [
        ({"M": 1}, "M"),
        ({"M": 1000}, "M"),
        ({"ef": 0}, "ef"),
        ({"ef_construction": "200"}, "ef_construction"),
        ({"M": True}, "M"),
        ({"m": 16}, "m"),
        ({"ef": 1.5}, "ef"),
    ],
)
def test_bad_params_are_rejected_per_key(params, key):
    with pytest.raises(InvalidInput) as info:
        validate_index_params(params)
    assert key in info.value.fields["index_params"]


def test_params_must_be_an_object():
    with pytest.raises(InvalidInput):
        validate_index_params([16])


# --- builds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index_type", ["hnsw", "flat"])
def test_labels_are_media_ids_not_positions(feature_id, index_type):
    ids = np.array([3, 17, 1000, 99999999999, 42], dtype=np.int64)
    v = _vectors(5)
    vector_store(feature_id, DIM).append(ids, v)
    meta = _build(feature_id, index_type, 0)
    assert meta["count"] == 5 and meta["version"] == 1 and meta["ef"] == 32
    idx = load_index_version(feature_id, 1)
    for i, media_id in enumerate(ids):
        found, sims = idx.search(v[i], k=1)
        assert found.tolist() == [media_id] and sims[0] == pytest.approx(1.0, abs=1e-4)
    assert np.allclose(idx.get_vectors([99999999999]), v[3:4], atol=1e-6)
    assert 1000 in idx and 5 not in idx


def test_hnsw_matches_exact_search_on_a_small_set(feature_id):
    ids = np.arange(1, 301, dtype=np.int64) * 3
    v = _vectors(300, seed=1)
    vector_store(feature_id, DIM).append(ids, v)
    _build(feature_id, "hnsw", 0, params={"M": 16, "ef_construction": 200, "ef": 200})
    idx = load_index_version(feature_id, 1)
    hits = 0
    for q in _vectors(20, seed=2):
        got, _ = idx.search(q, k=10)
        hits += len(set(got.tolist()) & set(_exact(ids, v, q, 10).tolist()))
    assert hits / 200 >= 0.95


def test_flat_is_exact_and_orders_best_first(feature_id):
    ids = np.arange(10, 60, dtype=np.int64)
    v = _vectors(50, seed=3)
    vector_store(feature_id, DIM).append(ids, v)
    _build(feature_id, "flat", 0)
    idx = load_index_version(feature_id, 1)
    q = _vectors(1, seed=4)[0]
    got, sims = idx.search(q, k=12)
    assert got.tolist() == _exact(ids, v, q, 12).tolist()
    assert (np.diff(sims) <= 0).all()


def test_a_flat_index_is_memory_mapped_not_copied_into_each_process(feature_id):
    ids = np.arange(1, 21, dtype=np.int64)
    v = _vectors(20, seed=5)
    vector_store(feature_id, DIM).append(ids, v)
    _build(feature_id, "flat", 0)
    idx = load_index_version(feature_id, 1)
    assert isinstance(idx._vectors, np.memmap) and not idx._vectors.flags.writeable
    assert idx.get_vectors([ids[3]])[0] == pytest.approx(v[3] / np.linalg.norm(v[3]), abs=1e-6)


def test_incremental_build_adds_only_new_items_and_marks_deleted(feature_id):
    store = vector_store(feature_id, DIM)
    v = _vectors(40)
    store.append(np.arange(1, 31), v[:30])
    first = _build(feature_id, "hnsw", 0)
    assert first["mode"] == "full" and first["added"] == 30
    store.append(np.arange(31, 41), v[30:])
    store.add_deleted([5])
    second = _build(feature_id, "hnsw", 1)
    assert second["mode"] == "incremental" and second["added"] == 10 and second["removed"] == 1
    assert second["count"] == 39 and second["element_count"] == 40
    idx = load_index_version(feature_id, 2)
    ids, _ = idx.knn(v, k=40)
    assert 5 not in ids and set(ids[ids >= 0].tolist()) == set(range(1, 41)) - {5}
    assert _build(feature_id, "hnsw", 2) is None  # nothing changed: no new version


def test_deleted_fraction_past_the_threshold_triggers_a_compact_rebuild(feature_id):
    store = vector_store(feature_id, DIM)
    store.append(np.arange(1, 21), _vectors(20))
    _build(feature_id, "hnsw", 0)
    store.add_deleted(range(1, 7))  # 30% deleted
    meta = _build(feature_id, "hnsw", 1, compact_fraction=0.2)
    assert meta["mode"] == "compacted" and meta["element_count"] == 14 == meta["count"]


def test_changing_m_rebuilds_and_changing_ef_only_rewrites(feature_id):
    store = vector_store(feature_id, DIM)
    store.append(np.arange(1, 21), _vectors(20))
    _build(feature_id, "hnsw", 0)
    assert _build(feature_id, "hnsw", 1, params={**PARAMS, "ef": 64})["mode"] == "incremental"
    assert load_index_version(feature_id, 2).ef == 64
    assert _build(feature_id, "hnsw", 2, params={**PARAMS, "ef": 64, "M": 12})["mode"] == "full"
    assert read_meta(store.root.parent, 3)["M"] == 12


def test_exception_before_rename_leaves_previous_version_intact(feature_id):
    store = vector_store(feature_id, DIM)
    store.append(np.arange(1, 11), _vectors(10))
    _build(feature_id, "hnsw", 0)
    store.append(np.arange(11, 21), _vectors(10, seed=5))

    def crash():
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        _build(feature_id, "hnsw", 1, before_rename=crash)
    assert read_meta(store.root.parent, 2) is None
    assert not [p for p in store.root.parent.iterdir() if p.name.endswith(".tmp")]
    assert load_index_version(feature_id, 1).count == 10


# --- read side ------------------------------------------------------------------------------------


def test_media_deleted_after_the_build_are_excluded_from_results(feature_id):
    store = vector_store(feature_id, DIM)
    v = _vectors(30)
    store.append(np.arange(1, 31), v)
    _build(feature_id, "hnsw", 0)
    store.add_deleted([1, 2, 3])
    idx = load_index_version(feature_id, 1)
    assert idx.count == 27
    ids, sims = idx.knn(v[:3], k=10)
    assert not set(ids.ravel().tolist()) & {1, 2, 3}
    assert (ids >= 0).all() and np.isfinite(sims).all()


def test_exclude_ids_padding_and_k_above_count(feature_id):
    store = vector_store(feature_id, DIM)
    v = _vectors(5)
    store.append(np.arange(1, 6), v)
    _build(feature_id, "flat", 0)
    idx = load_index_version(feature_id, 1)
    ids, sims = idx.knn(v[0], k=8, exclude_ids=[1])
    assert ids.shape == (1, 8) and sorted(ids[0][:4].tolist()) == [2, 3, 4, 5] and (ids[0][4:] == -1).all()
    assert np.isneginf(sims[0][4:]).all()
    with pytest.raises(InvalidInput):
        idx.knn(np.zeros(DIM + 1, dtype=np.float32), k=3)


def test_concurrent_queries_with_different_ef_all_succeed(feature_id):
    store = vector_store(feature_id, DIM)
    v = _vectors(500, seed=9)
    store.append(np.arange(1, 501), v)
    _build(feature_id, "hnsw", 0)
    idx = load_index_version(feature_id, 1)
    errors, results = [], []

    def worker(seed: int) -> None:
        try:
            for i in range(20):
                k = (10, 100, 300)[(seed + i) % 3]
                ids, _ = idx.search(v[(seed * 7 + i) % 500], k=k)
                results.append(len(ids) == k)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(results) and len(results) == 120
    assert idx.memory_bytes > idx.ids.nbytes


def test_load_index_of_a_feature_never_built_is_a_409(tiny_feature):
    feature = tiny_feature()
    with pytest.raises(IndexNotReady) as info:
        load_index(feature)
    assert info.value.status == 409

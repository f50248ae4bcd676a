"""The per-feature vector store: append-only shards, dedupe, deletions, compaction."""

from __future__ import annotations

import numpy as np
import pytest

from search_app.indexing.vectors import VectorStore


def _vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path) -> VectorStore:
    return VectorStore(tmp_path / "vectors", 8)


def test_appended_shards_load_back_sorted_by_id(store):
    v = _vectors(6)
    store.append(np.array([50, 10, 30]), v[:3])
    store.append(np.array([7, 1000000007, 20]), v[3:])
    ids, vectors = store.load()
    assert ids.tolist() == [7, 10, 20, 30, 50, 1000000007]
    order = {50: 0, 10: 1, 30: 2, 7: 3, 1000000007: 4, 20: 5}
    assert np.array_equal(vectors, v[[order[i] for i in ids.tolist()]])
    assert [p.name for p in store.shard_paths()] == ["shard-00000001.npz", "shard-00000002.npz"]


def test_an_id_written_twice_after_a_crash_loads_once_keeping_the_first(store):
    v = _vectors(4)
    store.append(np.array([1, 2]), v[:2])
    store.append(np.array([2, 3]), v[2:])  # a rerun re-embedded 2
    ids, vectors = store.load()
    assert ids.tolist() == [1, 2, 3]
    assert np.array_equal(vectors[1], v[1])
    assert store.ids().tolist() == [1, 2, 3]


def test_deleted_ids_are_left_out_and_stay_deleted(store):
    store.append(np.array([1, 2, 3]), _vectors(3))
    assert store.add_deleted([2, 99]) == 2
    assert store.add_deleted([2]) == 0
    ids, _ = store.load()
    assert ids.tolist() == [1, 3]
    assert store.live_ids().tolist() == [1, 3]
    assert store.ids().tolist() == [1, 2, 3]
    assert store.stats() == {"stored": 3, "deleted": 1, "live": 2, "shards": 1}


def test_load_only_some_ids(store):
    v = _vectors(4)
    store.append(np.array([1, 2, 3, 4]), v)
    ids, vectors = store.load(only=np.array([4, 2]))
    assert ids.tolist() == [2, 4] and np.array_equal(vectors, v[[1, 3]])


def test_half_written_shard_is_invisible_and_cleaned(store):
    store.append(np.array([1]), _vectors(1))
    (store.root / ".shard-00000002.npz.123.tmp").write_bytes(b"partial")
    assert store.ids().tolist() == [1]
    store.remove_temp_files()
    assert [p.name for p in store.root.iterdir() if p.name.endswith(".tmp")] == []


def test_compaction_keeps_live_vectors_in_one_shard(store):
    v = _vectors(6)
    store.append(np.array([1, 2, 3]), v[:3])
    store.append(np.array([4, 5, 6]), v[3:])
    store.add_deleted([2, 5])
    store.compact()
    assert len(store.shard_paths()) == 1
    ids, vectors = store.load()
    assert ids.tolist() == [1, 3, 4, 6] and np.array_equal(vectors, v[[0, 2, 3, 5]])
    assert store.deleted().tolist() == [2, 5]


def test_wrong_shape_is_refused(store):
    with pytest.raises(ValueError):
        store.append(np.array([1, 2]), _vectors(2, dim=4))

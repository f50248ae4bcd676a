"""Vectors stored from outside a build (the ingest embeds from its own decode): several
writers on one vector store, model checks, and the build not embedding them again."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from modelzoo.embedding import Embedder, get_embedder
from search_app.indexing.build import feature_add_vectors, feature_update_index
from search_app.indexing.layout import vector_store
from search_app.indexing.vectors import VectorStore


def _vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_concurrent_appends_never_replace_each_others_shards(tmp_path):
    store = VectorStore(tmp_path / "vectors", 4)
    errors = []

    def writer(first: int) -> None:
        try:
            for i in range(25):
                store.append(np.array([first + i]), _vectors(1, 4, seed=first + i))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.ids().tolist() == sorted(k * 1000 + i for k in range(4) for i in range(25))
    assert len(store.shard_paths()) == 100
    assert not [p for p in store.root.iterdir() if p.name.endswith(".tmp")]


def test_append_writes_again_when_a_starting_build_removed_its_temporary_file(tmp_path, monkeypatch):
    import os

    store = VectorStore(tmp_path / "vectors", 4)
    real_link = os.link
    calls = []

    def link_after_cleanup(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            store.remove_temp_files()  # what _build_once does first
        return real_link(src, dst)

    monkeypatch.setattr(os, "link", link_after_cleanup)
    store.append(np.array([1, 2]), _vectors(2, 4))
    assert store.ids().tolist() == [1, 2] and len(calls) == 2


@pytest.mark.django_db
def test_added_vectors_are_indexed_without_running_the_model(make_media, tiny_feature, monkeypatch):
    media = [make_media(s) for s in range(4)]
    feature = tiny_feature()
    embedder = get_embedder("tiny-random")
    vectors = embedder.embed_images([m.file.path for m in media[:3]])
    assert feature_add_vectors(feature=feature, ids=[m.pk for m in media[:3]], vectors=vectors, modelzoo_name="tiny-random") == 3

    embedded = []
    real = Embedder.embed_files

    def counting(self, items, **kwargs):
        items = list(items)
        embedded.extend(i for i, _ in items)
        return real(self, items, **kwargs)

    monkeypatch.setattr(Embedder, "embed_files", counting)
    result = feature_update_index(feature=feature)
    assert embedded == [media[3].pk]  # only the one without a vector
    assert result["embedded"] == 1 and result["count"] == 4


@pytest.mark.django_db
def test_vectors_of_another_model_or_a_deleted_feature_are_not_stored(tiny_feature):
    feature = tiny_feature()
    vectors = _vectors(2, 64)
    assert feature_add_vectors(feature=feature, ids=[1, 2], vectors=vectors, modelzoo_name="tiny-vit-random") == 0
    assert not vector_store(feature.pk, 64).exists()
    assert feature_add_vectors(feature=feature, ids=[], vectors=vectors[:0], modelzoo_name="tiny-random") == 0
    pk = feature.pk
    feature.delete()
    feature.pk = pk
    assert feature_add_vectors(feature=feature, ids=[1, 2], vectors=vectors, modelzoo_name="tiny-random") == 0
    assert not vector_store(pk, 64).exists()
    with pytest.raises(ValueError):  # wrong dimension
        feature_add_vectors(feature=tiny_feature(), ids=[1], vectors=_vectors(1, 8), modelzoo_name="tiny-random")

"""Two hosts, one storage: a worker host builds, a web host searches, another worker
host continues the index without re-embedding. The hosts are simulated by switching
INDEX_DIR (each host's local disk) while the default storage, database and everything
else are shared, which is exactly what separate machines would share."""

from __future__ import annotations

import numpy as np
import pytest

from search_app.indexing import engine, sharing
from search_app.indexing.build import feature_update_index
from search_app.indexing.layout import feature_dir, vector_store
from search_app.models import Feature


@pytest.fixture
def hosts(settings, tmp_path):
    settings.SHARE_INDEXES = True
    dirs = {"worker-a": tmp_path / "host-a", "web": tmp_path / "host-web", "worker-b": tmp_path / "host-b"}

    def on(host: str):
        settings.INDEX_DIR = dirs[host]
        engine.clear()  # another process: nothing loaded yet

    on.dirs = dirs
    yield on
    engine.clear()


def test_web_host_searches_an_index_built_on_a_worker_host(hosts, make_media, tiny_feature):
    media = [make_media(seed) for seed in range(12)]
    feature = tiny_feature()
    hosts("worker-a")
    feature_update_index(feature=feature)
    feature.refresh_from_db()

    hosts("web")
    assert not feature_dir(feature.pk).exists()
    index = engine.get_index(feature)
    assert index.count == 12
    ids, sims = index.search(index.get_vectors([media[3].pk])[0], 1)
    assert ids[0] == media[3].pk and sims[0] == pytest.approx(1.0, abs=1e-5)


def test_a_second_worker_host_continues_without_re_embedding(hosts, make_media, tiny_feature, monkeypatch):
    first = [make_media(seed) for seed in range(10)]
    feature = tiny_feature()
    hosts("worker-a")
    feature_update_index(feature=feature)

    hosts("worker-b")
    more = [make_media(seed) for seed in range(100, 104)]
    result = feature_update_index(feature=Feature.objects.get(pk=feature.pk))
    assert result["embedded"] == len(more), "worker B embedded only the new media; A's vectors came from storage"
    # B's store holds A's vectors (pulled) and its own; loading keeps one vector per id
    ids, vectors = vector_store(feature.pk, 64).load()
    assert sorted(ids.tolist()) == sorted(m.pk for m in first + more)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    hosts("web")
    feature.refresh_from_db()
    assert engine.get_index(feature).count == 14

    hosts("worker-a")  # back on A: its next build pulls B's shards, embeds nothing
    result = feature_update_index(feature=Feature.objects.get(pk=feature.pk))
    assert result["embedded"] == 0


def test_nothing_travels_when_sharing_is_off(settings, make_media, tiny_feature, tmp_path):
    from django.core.files.storage import default_storage

    settings.SHARE_INDEXES = False
    make_media(1)
    feature = tiny_feature()
    feature_update_index(feature=feature)
    assert not default_storage.exists(f"indexes/feature-{feature.pk}")
    assert sharing.pull_version(feature.pk, 99) is False

"""Embedding while importing (media_app.ingest.embed): vectors from the import's own
decode, stored in each feature's vector store, so the index build runs no model for
them; and they are the vectors the build would have made from the files."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from PIL import Image

from media_app.ingest import IngestOptions, ingest_run
from media_app.ingest.embed import IngestEmbedding
from media_app.models import Media
from media_app.tests.test_reduced_decode import photo_jpeg
from modelzoo.embedding import Embedder, get_embedder
from search_app.indexing.build import feature_update_index
from search_app.indexing.layout import vector_store
from search_app.models import Feature

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def model_settings(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.MODELS_DIR = tmp_path / "models"
    settings.ALLOW_RANDOM_WEIGHTS = True
    settings.EMBED_BATCH_SIZE = 4
    settings.LOADER_WORKERS = 1
    settings.INDEX_THREADS = 1
    return settings


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# tiny-random resizes to 64 px. Which decode scale a file gets depends on whether its
# shorter side (model) or longer side (320 px thumbnail) asks for more.
MODEL_DECIDES = {"wide.jpg": (3000, 400), "small.jpg": (96, 72), "a.png": (800, 600)}
THUMBNAIL_DECIDES = {"photo.jpg": (1600, 1200), "square.jpg": (1024, 1024), "tall.jpg": (900, 1600)}


@pytest.fixture
def folder(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for i, (name, size) in enumerate({**MODEL_DECIDES, **THUMBNAIL_DECIDES}.items()):
        data = photo_jpeg(*size, seed=i, detail=48)  # smooth, like most photos at 64 px
        if name.endswith(".png"):
            Image.open(io.BytesIO(data)).save(src / name, format="PNG")
        else:
            (src / name).write_bytes(data)
    data = photo_jpeg(1200, 900, seed=99)
    (src / "truncated.jpg").write_bytes(data[: len(data) // 2])
    return src


def stored_vectors(feature) -> dict[int, np.ndarray]:
    ids, vectors = vector_store(feature.pk, 64).load()
    return dict(zip(ids.tolist(), vectors, strict=True))


def test_imported_images_are_embedded_once_and_the_build_runs_no_model(folder, monkeypatch):
    feature = Feature.objects.create(modelzoo_name="tiny-random")
    summary = ingest_run(paths=[folder], options=IngestOptions(features=[feature]))
    assert summary.images == 6 and summary.skipped["corrupt_image"] == 1
    assert summary.embedded == {feature.pk: 6}
    assert sorted(stored_vectors(feature)) == sorted(Media.objects.values_list("pk", flat=True))

    def no_model(*args, **kwargs):
        raise AssertionError("the build ran the model for media the ingest had embedded")

    monkeypatch.setattr(Embedder, "embed_files", no_model)
    result = feature_update_index(feature=feature)
    assert result["embedded"] == 0 and result["count"] == 6 and result["skipped"] == 0


def test_vectors_are_those_the_build_makes_from_the_files(folder):
    by_ingest = Feature.objects.create(modelzoo_name="tiny-random")
    ingest_run(paths=[folder], options=IngestOptions(features=[by_ingest]))
    by_build = Feature.objects.create(modelzoo_name="tiny-random")
    assert feature_update_index(feature=by_build)["embedded"] == 6
    ours, theirs = stored_vectors(by_ingest), stored_vectors(by_build)
    names = dict(Media.objects.values_list("pk", "original_name"))
    assert set(ours) == set(theirs) == set(names)
    for pk, vector in ours.items():
        if names[pk] in MODEL_DECIDES:
            # The same DCT scale, the same preprocessing: the same input.
            assert np.allclose(vector, theirs[pk], atol=1e-5), names[pk]
        else:
            # Decoded at a larger DCT scale for the thumbnail: resampling noise only
            # (resnet18 at 224 px on photos: cosine > 0.99997, below bf16's noise).
            assert float(vector @ theirs[pk]) > 0.995, names[pk]
    # Either way every image finds itself first among all of them.
    ids = np.array(sorted(ours))
    a, b = np.stack([ours[i] for i in ids]), np.stack([theirs[i] for i in ids])
    assert (np.argmax(a @ b.T, axis=1) == np.arange(ids.size)).all()


def test_features_whose_model_cannot_run_are_left_to_the_build(folder):
    unusable = Feature.objects.create(modelzoo_name="resnet18")  # no weights here
    usable = Feature.objects.create(modelzoo_name="tiny-random")
    summary = ingest_run(paths=[folder], options=IngestOptions(features=[unusable, usable]))
    assert summary.images == 6 and summary.embedded == {usable.pk: 6}
    assert not vector_store(unusable.pk, 512).exists()


def test_vectors_of_a_feature_whose_model_changed_meanwhile_are_dropped(folder):
    feature = Feature.objects.create(modelzoo_name="tiny-random")
    stale = Feature.objects.get(pk=feature.pk)
    Feature.objects.filter(pk=feature.pk).update(modelzoo_name="tiny-vit-random")
    summary = ingest_run(paths=[folder], options=IngestOptions(features=[stale]))
    assert summary.images == 6 and summary.embedded == {feature.pk: 0}
    assert vector_store(feature.pk, 64).ids().size == 0


def test_dry_run_and_runs_without_features_embed_nothing(folder):
    feature = Feature.objects.create(modelzoo_name="tiny-random")
    assert ingest_run(paths=[folder], options=IngestOptions(features=[feature], dry_run=True)).embedded == {}
    assert ingest_run(paths=[folder], options=IngestOptions()).embedded == {}
    assert vector_store(feature.pk, 64).ids().size == 0


def test_images_decoded_while_the_model_loads_are_held_and_embedded_later(monkeypatch):
    feature = Feature.objects.create(modelzoo_name="tiny-random")
    release = threading.Event()
    real = get_embedder("tiny-random")

    def slow_get_embedder(name):
        release.wait(10)
        return real

    monkeypatch.setattr("modelzoo.embedding.get_embedder", slow_get_embedder)
    stored = []
    monkeypatch.setattr(
        "search_app.indexing.build.feature_add_vectors", lambda *, feature, ids, vectors, modelzoo_name: stored.append((ids, vectors)) or ids.size
    )
    images = [Image.open(io.BytesIO(photo_jpeg(320, 240, seed=s))) for s in range(6)]
    embedding = IngestEmbedding([feature], stop=threading.Event(), flush_in_caller=True)
    held = [embedding.prepare(img) for img in images]
    assert all(isinstance(p["tiny-random"], Image.Image) for p in held)  # copies, to prepare later
    embedding.discard(embedding.prepare(images[0]))  # its row was not created after all
    release.set()
    for media_id, prepared in enumerate(held):
        embedding.submit(media_id, prepared)
    assert embedding.close() == {feature.pk: 6}
    assert embedding._held_pixels == 0  # every held copy given back
    ids = np.concatenate([i for i, _ in stored])
    vectors = np.concatenate([v for _, v in stored])
    assert ids.tolist() == list(range(6))
    assert np.allclose(vectors, real.embed_images(images), atol=1e-5)


def test_a_stopped_run_stores_what_it_embedded_and_the_build_does_the_rest(folder):
    feature = Feature.objects.create(modelzoo_name="tiny-random")
    stop = threading.Event()
    done = []

    def on_result(result):
        done.append(result)
        if len(done) == 3:
            stop.set()

    summary = ingest_run(paths=[folder], options=IngestOptions(features=[feature]), stop=stop, on_result=on_result)
    assert summary.interrupted
    imported = Media.objects.count()
    assert 0 < imported < 6 and summary.embedded.get(feature.pk, 0) <= imported
    result = feature_update_index(feature=feature)
    assert result["embedded"] == imported - summary.embedded.get(feature.pk, 0) and result["count"] == imported


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent connections (PostgreSQL); the test SQLite database is a shared in-memory one")
@pytest.mark.django_db(transaction=True)
def test_with_worker_threads_the_model_thread_stores_the_vectors_itself(folder, settings, monkeypatch):
    # What manage.py ingest does: import workers in threads, vectors stored from the
    # model thread's own connection as shards fill (here every 2), not at the end.
    settings.INDEX_SHARD_ITEMS = 2
    feature = Feature.objects.create(modelzoo_name="tiny-random")
    summary = ingest_run(paths=[folder], options=IngestOptions(features=[feature], workers=2))
    assert summary.images == 6 and summary.embedded == {feature.pk: 6}
    assert sorted(stored_vectors(feature)) == sorted(Media.objects.values_list("pk", flat=True))
    assert len(vector_store(feature.pk, 64).shard_paths()) >= 2
    monkeypatch.setattr(Embedder, "embed_files", lambda *a, **k: pytest.fail("re-embedded"))
    assert feature_update_index(feature=feature)["embedded"] == 0

"""Fixtures for feature / index tests: tiny random-weight model, inline tasks run in
the test's thread, an index and models folder per test, Media made with Pillow."""

from __future__ import annotations

import io

import pytest


@pytest.fixture(autouse=True)
def index_settings(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.ALLOW_RANDOM_WEIGHTS = True
    settings.REDIS_URL = None
    settings.TASKS_INLINE = True
    settings.TASKS_EAGER = True
    settings.EMBED_BATCH_SIZE = 8
    settings.LOADER_WORKERS = 1
    settings.INDEX_THREADS = 1
    return settings


@pytest.fixture(scope="session")
def milvus_file(tmp_path_factory):
    """One milvus-lite database for the session (the engine starts once); each test that
    uses it names its collections with a prefix of its own (settings.MILVUS_PREFIX)."""
    from search_app.indexing.backends import milvus

    path = tmp_path_factory.mktemp("milvus") / "tests.db"
    yield path
    milvus.reset()


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def make_media(db, image_bytes):
    """make_media(seed, **kwargs) -> Media: a distinct small JPEG per seed."""
    from media_app.services import media_create_image

    def make(seed: int, width: int = 96, height: int = 72):
        media, _ = media_create_image(stream=io.BytesIO(image_bytes(width, height, seed=seed)), original_name=f"img-{seed}.jpg")
        return media

    return make


@pytest.fixture
def tiny_feature(db):
    """feature(**kwargs) -> Feature row on the tiny random model (no build scheduled)."""
    from search_app.models import Feature

    def make(**kwargs):
        return Feature.objects.create(modelzoo_name=kwargs.pop("modelzoo_name", "tiny-random"), **kwargs)

    return make

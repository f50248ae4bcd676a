"""VFRAME_DEVICE: embeddings run on CUDA when torch sees a device (auto, the default),
on the CPU otherwise; ``cuda`` without a device is a 503 that says so, never a silent
fallback. These run without a GPU: torch's answer is replaced where a test needs one."""

from __future__ import annotations

import io

import pytest
import torch

from core.errors import ServiceUnavailable
from modelzoo.embedding import _sizes_for, clear_embedder_cache, embedding_device, get_embedder


@pytest.fixture(autouse=True)
def fresh_embedders():
    clear_embedder_cache()
    yield
    clear_embedder_cache()


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_is_the_default_and_picks_the_cpu_without_a_device(settings, no_gpu):
    assert settings.DEVICE == "auto"
    assert embedding_device() == "cpu"
    embedder = get_embedder("tiny-random")
    assert embedder.device.type == "cpu"
    assert (embedder.batch_size, embedder.loader_workers) == (settings.EMBED_BATCH_SIZE, settings.LOADER_WORKERS)


def test_auto_picks_cuda_when_torch_sees_a_device_with_batches_and_decoders_for_it(settings, monkeypatch):
    import os

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert embedding_device() == "cuda"
    settings.EMBED_BATCH_SIZE_CUDA = 256
    settings.LOADER_WORKERS_CUDA = 0
    assert _sizes_for("cuda") == (256, max(2, len(os.sched_getaffinity(0))))
    settings.LOADER_WORKERS_CUDA = 6
    assert _sizes_for("cuda") == (256, 6)


def test_cpu_never_asks_torch_for_a_device(settings, monkeypatch):
    settings.DEVICE = "cpu"

    def asked():
        raise AssertionError("torch.cuda was asked")

    monkeypatch.setattr(torch.cuda, "is_available", asked)
    assert embedding_device() == "cpu"
    assert get_embedder("tiny-random").device.type == "cpu"


def test_cuda_without_a_device_is_a_503_naming_the_setting(settings, no_gpu):
    settings.DEVICE = "cuda"
    with pytest.raises(ServiceUnavailable) as caught:
        get_embedder("tiny-random")
    assert caught.value.status == 503 and caught.value.code == "device_unavailable"
    assert "VFRAME_DEVICE=cuda" in str(caught.value)
    # The perceptual hash runs no model: it needs no device.
    assert get_embedder("phash").device is None


def test_search_by_upload_answers_503_when_cuda_is_required_and_absent(api, settings, no_gpu, image_bytes, tmp_path):
    from media_app.services import media_create_image
    from search_app.indexing import engine
    from search_app.indexing.build import feature_update_index
    from search_app.models import Feature

    settings.TASKS_INLINE = True
    settings.TASKS_EAGER = True
    for seed in range(6):
        media_create_image(stream=io.BytesIO(image_bytes(64, 48, seed=seed)), original_name=f"{seed}.jpg")
    feature_update_index(feature=Feature.objects.create(modelzoo_name="tiny-random"))
    engine.clear()
    settings.DEVICE = "cuda"
    clear_embedder_cache()
    res = api.post("/api/v1/upload/", {"image": io.BytesIO(image_bytes(64, 48, seed=99))}, format="multipart")
    assert res.status_code == 201, res.content  # the upload is stored all the same
    res = api.get(f"/api/v1/search/upload/{res.json()['res']['id']}/")
    assert res.status_code == 503, res.content
    assert res.json()["error"]["code"] == "device_unavailable"
    engine.clear()

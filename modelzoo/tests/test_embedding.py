"""The Embedder: normalised, deterministic vectors; decode failures skipped and
reported; preprocessing that keeps near-duplicates together."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.errors import InvalidInput
from modelzoo.embedding import Embedder, bf16_supported, build_model, get_embedder
from modelzoo.registry import get_embedding_model


def _reencode(data: bytes, scale: float = 0.6, quality: int = 60) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = img.resize((int(img.width * scale), int(img.height * scale)), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def test_vectors_are_l2_normalised_float32_of_the_model_dimension(image_bytes):
    embedder = get_embedder("tiny-random")
    vectors = embedder.embed_images([image_bytes(120, 80, seed=s) for s in range(5)])
    assert vectors.dtype == np.float32 and vectors.shape == (5, embedder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_random_weights_are_deterministic_for_the_fixed_seed(image_bytes):
    import torch

    spec = get_embedding_model("tiny-random")
    torch.manual_seed(12345)  # global RNG state must not matter
    model_a = build_model(spec, None)
    torch.rand(100)
    model_b = build_model(spec, None)
    for (name, pa), (_, pb) in zip(model_a.state_dict().items(), model_b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    a = Embedder(spec, model_a, loader_workers=0)
    b = Embedder(spec, model_b, loader_workers=2, batch_size=2)
    images = [image_bytes(90, 70, seed=s) for s in range(5)]
    assert np.allclose(a.embed_images(images), b.embed_images(images), atol=1e-6)


@pytest.mark.parametrize("model", ["tiny-random", "tiny-vit-random"])
def test_reencoded_resized_copy_ranks_its_original_first(model, image_bytes):
    embedder = get_embedder(model)
    originals = [image_bytes(160, 120, seed=s) for s in range(30)]
    copies = [_reencode(data, scale=0.5 + 0.01 * i) for i, data in enumerate(originals)]
    base = embedder.embed_images(originals)
    queries = embedder.embed_images(copies)
    ranks = np.argsort(-(queries @ base.T), axis=1)
    assert (ranks[:, 0] == np.arange(len(originals))).all()


def test_undecodable_items_are_skipped_and_reported_and_the_rest_embedded(image_bytes):
    embedder = get_embedder("tiny-random")
    good = image_bytes(64, 64, seed=1)
    truncated = good[: len(good) // 3]
    errors = []
    batches = list(
        embedder.embed_files(
            [(10, good), (11, b"not an image"), (12, truncated), (13, "/no/such/file.jpg"), (14, good)], on_error=lambda i, r: errors.append(i)
        )
    )
    ids = np.concatenate([b.ids for b in batches])
    failed = [item for b in batches for item in b.failed]
    assert ids.tolist() == [10, 14]
    assert [i for i, _ in failed] == [11, 12, 13] == errors
    assert all(reason for _, reason in failed)
    with pytest.raises(InvalidInput):
        embedder.embed_images([good, b"junk"])


def test_batches_preserve_input_order_with_loader_threads(image_bytes):
    spec = get_embedding_model("tiny-random")
    model = build_model(spec, None)
    inline = Embedder(spec, model, loader_workers=0, batch_size=3)
    threaded = Embedder(spec, model, loader_workers=3, batch_size=3)
    items = [(100 + i, image_bytes(80, 60, seed=i)) for i in range(10)]
    a = list(inline.embed_files(items))
    b = list(threaded.embed_files(items))
    assert [x.ids.tolist() for x in a] == [x.ids.tolist() for x in b] == [[100, 101, 102], [103, 104, 105], [106, 107, 108], [109]]
    assert np.allclose(np.concatenate([x.vectors for x in a]), np.concatenate([x.vectors for x in b]), atol=1e-6)
    ids, vectors = a[0]
    assert ids.tolist() == [100, 101, 102] and vectors.shape == (3, 64)


def test_large_jpeg_is_decoded_in_draft_mode_to_just_above_the_model_input(monkeypatch, image_bytes):
    embedder = get_embedder("tiny-random")
    from PIL import JpegImagePlugin

    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        calls.append((size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    arr = embedder.load(image_bytes(1600, 1200, seed=3))
    assert arr.shape == (64, 64, 3) and arr.dtype == np.uint8
    ((requested, decoded),) = calls
    # 1/8 scale (200x150) is the smallest DCT scale that still covers 64 px.
    assert decoded == (200, 150) and min(requested) >= embedder.spec.resize_size


def test_exif_orientation_is_applied_before_embedding(image_bytes):
    embedder = get_embedder("tiny-random")
    upright = Image.open(io.BytesIO(image_bytes(120, 80, seed=7))).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # pixels as a camera held sideways stores them
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = io.BytesIO()
    stored.save(out, format="PNG", exif=exif)
    a, b = embedder.embed_images([upright, out.getvalue()])
    assert float(a @ b) > 0.98


@pytest.mark.skipif(not bf16_supported(), reason="no native bfloat16 on this CPU")
def test_bfloat16_vectors_stay_close_to_float32(image_bytes):
    spec = get_embedding_model("tiny-random")
    model = build_model(spec, None)
    images = [image_bytes(96, 72, seed=s) for s in range(6)]
    fp32 = Embedder(spec, model, dtype="float32").embed_images(images)
    bf16 = Embedder(spec, model, dtype="bfloat16").embed_images(images)
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert (np.sum(fp32 * bf16, axis=1) > 0.98).all()


def test_a_random_weight_model_is_the_same_network_while_other_models_are_built_in_other_threads():
    """Constructing a network draws from torch's global generator: a model built in
    another thread meanwhile (the warm-up, the ingest's classifier) must not change the
    weights a fixed-seed model gets, or stored vectors and query vectors disagree."""
    import threading

    import torch

    spec = get_embedding_model("tiny-random")
    reference = {k: v.clone() for k, v in build_model(spec, None).state_dict().items()}
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            build_model(get_embedding_model("resnet18-random"), None)

    other = threading.Thread(target=churn)
    other.start()
    try:
        for _ in range(15):
            state = build_model(spec, None).state_dict()
            assert all(torch.equal(state[k], v) for k, v in reference.items())
    finally:
        stop.set()
        other.join()

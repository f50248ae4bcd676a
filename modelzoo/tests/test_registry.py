"""The model zoo registry: what it lists and whether weights are present."""

from __future__ import annotations

import pytest

from core.errors import NotFound
from modelzoo.registry import DEFAULT_PREFERENCE, MODELS, DetectionModelSpec, EmbeddingModelSpec, all_models, get_embedding_model, get_model
from modelzoo.weights import default_model_name, weights_status


def test_pretrained_embedding_models_come_from_the_hub_or_a_pinned_pip_package():
    real = [m for m in all_models() if isinstance(m, EmbeddingModelSpec) and m.needs_weights]
    assert {"resnet18", "resnet50", "efficientnet_b0", "convnext_tiny", "dinov2_vits14"} <= {m.name for m in real}
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenetv2"} <= {m.name for m in real}
    for spec in real:
        assert spec.hf_hub_id.startswith("timm/") or (spec.package.count("==") == 1 and len(spec.sha256) == 64), spec.name
        assert spec.licence and spec.description
        assert spec.embedding_dim > 0 and spec.input_size > 0 and len(spec.mean) == len(spec.std) == 3
    assert set(DEFAULT_PREFERENCE) <= {m.name for m in real}


def test_default_is_efficientnet_lite0_on_a_fresh_install(settings, no_hub_cache):
    settings.DEFAULT_EMBEDDING_MODEL = ""
    assert default_model_name() == "efficientnet_lite0"
    assert weights_status(get_model("efficientnet_lite0")).source == "package"


def test_default_is_a_better_model_the_operator_fetched_and_the_setting_wins(settings, models_dir, no_hub_cache):
    settings.DEFAULT_EMBEDDING_MODEL = ""
    (models_dir / "dinov2_vits14").mkdir(parents=True)
    (models_dir / "dinov2_vits14" / "model.safetensors").write_bytes(b"x")
    assert default_model_name() == "dinov2_vits14"
    settings.DEFAULT_EMBEDDING_MODEL = "mobilenetv2"
    assert default_model_name() == "mobilenetv2"


def test_detectors_are_torchvision_models_with_coco_labels():
    detectors = {m.name: m for m in all_models() if isinstance(m, DetectionModelSpec)}
    assert {"fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn_v2", "ssdlite320_mobilenet_v3_large", "detector-random"} <= set(detectors)
    for spec in detectors.values():
        assert "COCO" in spec.labels_source and spec.num_classes == 91
        assert spec.random_weights or spec.weights_url.startswith("https://download.pytorch.org/")


def test_random_entries_are_flagged_and_always_present():
    random_entries = [m for m in all_models() if m.random_weights]
    assert {"resnet18-random", "tiny-random", "detector-random"} <= {m.name for m in random_entries}
    for spec in random_entries:
        status = weights_status(spec)
        assert status.present and status.source == "random"


def test_model_without_weights_is_missing_and_says_where_to_put_them(models_dir, no_hub_cache):
    status = weights_status(get_model("resnet18"))
    assert not status.present and status.source == "missing"
    assert status.expected_path == str(models_dir / "resnet18" / "model.safetensors")


@pytest.mark.parametrize("file_name", ["model.safetensors", "model.pth", "pytorch_model.bin"])
def test_a_file_under_models_dir_makes_weights_present(models_dir, no_hub_cache, file_name):
    folder = models_dir / "convnext_tiny"
    folder.mkdir(parents=True)
    (folder / file_name).write_bytes(b"x")
    status = weights_status(get_model("convnext_tiny"))
    assert status.present and status.source == "local" and status.path.endswith(file_name)


def test_unknown_name_is_not_found_and_a_detector_is_not_an_embedding_model():
    with pytest.raises(NotFound):
        get_model("no-such-model")
    with pytest.raises(NotFound):
        get_embedding_model("ssdlite320_mobilenet_v3_large")


@pytest.mark.slow
def test_embedding_dims_and_timm_architectures_agree():
    import timm
    import torch

    for spec in MODELS.values():
        if not isinstance(spec, EmbeddingModelSpec) or spec.backend != "timm":
            continue
        with torch.device("meta"):
            model = timm.create_model(spec.architecture, pretrained=False, num_classes=0, **spec.model_kwargs)
        assert model.num_features == spec.embedding_dim, spec.name

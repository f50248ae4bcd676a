"""manage.py modelzoo list | check | test: the zoo on this machine, for operators."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.onnx_models import detector_entry, export_yolo, operator_zoo, write_labels


def run(*args) -> str:
    out = io.StringIO()
    call_command("modelzoo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_list_shows_every_model_with_runtime_weights_checksum_and_source(no_hub_cache):
    models = {m["name"]: m for m in json.loads(run("list", "--json"))}
    assert models["efficientnet_lite0"]["checksum"] == "verified" and models["efficientnet_lite0"]["runtime"] == "timm"
    assert models["resnet18"]["checksum"] == "missing" and models["phash"]["checksum"] == "n/a"
    table = run("list")
    assert "efficientnet_lite0" in table and "models.toml" in table and "Apache-2.0" in table


def test_check_passes_on_the_shipped_zoo_and_names_a_faulty_file(tmp_path, no_hub_cache):
    assert "efficientnet_lite0" in run("check") and "FAULT" not in run("check")
    write_labels(tmp_path / "labels.txt", ["a", "b", "c", "d"])
    onnx_file = export_yolo(tmp_path / "d.onnx", layout="yolov8")
    with operator_zoo(tmp_path / "zoo.toml", detector_entry("my-detector", str(onnx_file), layout="yolov8")):
        with pytest.raises(CommandError, match="1 model\\(s\\) with a fault: my-detector"):
            run("check")
        report = json.loads(run("check", "efficientnet_lite0", "--json"))
        assert report["models"] == [{"name": "efficientnet_lite0", "weights_present": True, "checksum": "verified", "problems": []}]


def test_test_loads_a_model_and_prints_timing_and_output_shape(tmp_path):
    result = json.loads(run("test", "tiny-random", "--json", "--runs", "2"))
    assert result["output_shape"] == [1, 64] and result["norm"] == pytest.approx(1.0, abs=1e-3) and result["runs"] == 2
    assert result["load_ms"] >= 0 and result["mean_ms"] > 0
    write_labels(tmp_path / "labels.txt")
    with operator_zoo(tmp_path / "zoo.toml", detector_entry("my-detector", str(export_yolo(tmp_path / "d.onnx", layout="yolov5")), layout="yolov5")):
        red = tmp_path / "red.png"
        from PIL import Image

        Image.new("RGB", (64, 64), (255, 0, 0)).save(red)
        line = run("test", "my-detector", "--image", str(red))
    assert "my-detector (detection, onnx)" in line and "output shape (2, 6)" in line and "munition" in line


def test_test_of_a_model_without_weights_says_how_to_get_them(no_hub_cache):
    with pytest.raises(CommandError, match="No weights for model 'resnet18'"):
        run("test", "resnet18")
    with pytest.raises(CommandError, match="No model called 'nope'"):
        run("test", "nope")

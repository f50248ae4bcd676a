"""The ONNX runtime: embedders and YOLO-style detectors an operator names in the
configuration, run with no code; files that do not match their entry, label files of
the wrong length and weights that fail their checksum are clear errors."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io

import numpy as np
import pytest
from PIL import Image

from modelzoo.detection import get_detector
from modelzoo.embedding import get_embedder
from modelzoo.onnx_runtime import ModelMismatch, Placement, nms, prepare_square
from modelzoo.registry import get_model
from modelzoo.weights import WeightsChecksumMismatch, file_sha256
from tests.onnx_models import detector_entry, export_embedder, export_yolo, operator_zoo, write_labels


def picture(colour, size=(128, 64)) -> Image.Image:
    return Image.new("RGB", size, colour)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return {
        "yolov5": export_yolo(folder / "v5.onnx", layout="yolov5"),
        "yolov8": export_yolo(folder / "v8.onnx", layout="yolov8"),
        "embedder": export_embedder(folder / "embed.onnx", dim=16, size=32),
    }


def zoo_with_detector(tmp_path, onnx_file, *, layout, labels=None, extra=""):
    write_labels(tmp_path / "labels.txt", labels or ("munition", "vehicle", "logo"))
    return operator_zoo(tmp_path / "zoo.toml", detector_entry("my-detector", str(onnx_file), layout=layout, extra=extra))


@pytest.mark.parametrize("layout", ["yolov5", "yolov8"])
def test_an_exported_yolo_detector_finds_its_boxes_with_nms_and_the_label_file(tmp_path, exported, layout):
    with zoo_with_detector(tmp_path, exported[layout], layout=layout):
        detector = get_detector("my-detector")
        found = detector.detect(picture((255, 0, 0)))
        # The 0.8 munition overlaps the 0.9 one and is suppressed; the vehicle in the same
        # place is another class and stays; the 0.1 logo is under the 0.25 threshold.
        assert [(d["label"], d["label_id"], d["score"]) for d in found] == [("munition", 0, 0.9), ("vehicle", 1, 0.7)]
        # 128x64 letterboxed into 64x64: scale 0.5, 16 px of grey above and below.
        assert found[0]["box"] == [0.125, 0.0, 0.625, 0.75]
        assert detector.detect(picture((0, 0, 255))) == []


def test_colour_order_bgr_swaps_the_channels_the_model_sees(tmp_path, exported):
    with zoo_with_detector(tmp_path, exported["yolov8"], layout="yolov8", extra=', labels_source = "ours"'):
        assert get_detector("my-detector").detect(picture((255, 0, 0)))
    text = detector_entry("my-detector", str(exported["yolov8"]), layout="yolov8").replace('resize = "letterbox" }', 'resize = "letterbox", colour = "bgr" }')
    with operator_zoo(tmp_path / "zoo.toml", text):
        detector = get_detector("my-detector")
        assert detector.detect(picture((255, 0, 0))) == [] and detector.detect(picture((0, 0, 255)))


def test_a_label_file_longer_than_the_models_classes_is_refused_at_load(tmp_path, exported):
    with zoo_with_detector(tmp_path, exported["yolov5"], layout="yolov5", labels=["a", "b", "c", "d"]):
        with pytest.raises(ModelMismatch) as caught:
            get_detector("my-detector")
    message = caught.value.message
    assert str(exported["yolov5"]) in message and "'my-detector'" in message
    assert "that is 3 classes, but the label file" in message and "has 4" in message


def test_the_wrong_layout_is_refused_naming_the_output_shape(tmp_path, exported):
    with zoo_with_detector(tmp_path, exported["yolov8"], layout="yolov5"):
        with pytest.raises(ModelMismatch) as caught:
            get_detector("my-detector")
    assert "output 'output0' has shape [1, 7, 4]: as yolov5 (batch, boxes, 5 + classes) that is -1 classes" in caught.value.message


def test_weights_that_fail_their_checksum_are_refused(tmp_path, exported):
    good = file_sha256(exported["yolov5"])
    write_labels(tmp_path / "labels.txt")
    text = detector_entry("my-detector", str(exported["yolov5"]), layout="yolov5").replace(" }\ninput", f', sha256 = "{"0" * 64}" }}\ninput', 1)
    with operator_zoo(tmp_path / "zoo.toml", text):
        assert get_model("my-detector").sha256 == "0" * 64
        with pytest.raises(WeightsChecksumMismatch) as caught:
            get_detector("my-detector")
        assert good in caught.value.message and "0" * 64 in caught.value.message


EMBEDDER = """
[[model]]
name = "my-embedder"
kind = "embedding"
runtime = "onnx"
licence = "test fixture"
weights = {{ path = "{path}" }}
input = {{ size = {size}, name = "pixels" }}
preprocess = {{ resize = "{resize}", interpolation = "bilinear" }}
output = {{ embedding_dim = {dim}, layer = "embedding" }}
"""


@pytest.mark.parametrize("resize", ["crop", "stretch", "letterbox"])
def test_an_exported_embedder_gives_the_vectors_of_the_network_it_came_from(tmp_path, exported, resize):
    import torch

    path, network = exported["embedder"]
    with operator_zoo(tmp_path / "zoo.toml", EMBEDDER.format(path=path, size=32, dim=16, resize=resize)):
        embedder = get_embedder("my-embedder")
        photos = [picture((200, 30, 60), (90, 50)), picture((10, 120, 250), (40, 70)), picture((90, 90, 90), (32, 32))]
        vectors = embedder.embed_images(photos)
        assert vectors.shape == (3, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        spec = get_model("my-embedder")
        batch = np.stack([embedder.prepare(p) for p in photos]).astype(np.float32) / 255.0
        x = torch.from_numpy(((batch - np.array(spec.mean, np.float32)) / np.array(spec.std, np.float32)).transpose(0, 3, 1, 2).copy())
        with torch.inference_mode():
            expected = torch.nn.functional.normalize(network(x), dim=1).numpy()
        np.testing.assert_allclose(vectors, expected, atol=1e-5)
        # Bytes, as the API and ingest hand them over.
        buf = io.BytesIO()
        photos[0].save(buf, "PNG")
        np.testing.assert_allclose(embedder.embed_image(buf.getvalue()), vectors[0], atol=1e-6)


@pytest.mark.parametrize(
    ("size", "dim", "says"),
    [
        (32, 64, "output 'embedding' has shape ['batch', 16]: 16 values, but output.embedding_dim is 64"),
        (48, 16, "input 'pixels' has shape ['batch', 3, 32, 32]: height 32, but input.size is 48"),
    ],
)
def test_an_onnx_file_that_does_not_match_its_entry_is_refused(tmp_path, exported, size, dim, says):
    path, _ = exported["embedder"]
    with operator_zoo(tmp_path / "zoo.toml", EMBEDDER.format(path=path, size=size, dim=dim, resize="crop")):
        with pytest.raises(ModelMismatch) as caught:
            get_embedder("my-embedder")
    assert says in caught.value.message and str(path) in caught.value.message and caught.value.status == 503


def test_letterbox_placement_maps_input_pixels_back_to_the_image():
    spec = type("S", (), {"input_size": 64, "resize": "letterbox", "interpolation": "bilinear"})()
    array, placement = prepare_square(picture((255, 0, 0), (64, 128)), spec)
    assert array.shape == (64, 64, 3) and tuple(array[32, 0]) == (114, 114, 114) and tuple(array[32, 32]) == (255, 0, 0)
    assert placement == Placement(1 / 32, -16 / 32, 1 / 64, 0.0)
    np.testing.assert_allclose(placement.to_image(np.array([[16.0, 0.0, 48.0, 64.0]])), [[0.0, 0.0, 1.0, 1.0]])


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.4]), 0.5).tolist() == [1, 2]
    assert nms(boxes, np.array([0.5, 0.9, 0.4]), 0.9).tolist() == [1, 0, 2]


# --- a real ONNX model that ships inside a PyPI wheel ------------------------------------------

RAPIDOCR = "rapidocr-onnxruntime"
CLS_FILE = "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
CLS_SHA256 = "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"
DET_FILE = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
DET_SHA256 = "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"


def rapidocr_entry(name: str, file: str, sha256: str, dim: int) -> str:
    version = importlib.metadata.version(RAPIDOCR)
    return f"""
[[model]]
name = "{name}"
kind = "embedding"
runtime = "onnx"
architecture = "PP-OCR"
licence = "Apache-2.0 (PaddleOCR models in the rapidocr-onnxruntime wheel)"
weights = {{ package = "{RAPIDOCR}=={version}", file = "{file}", sha256 = "{sha256}" }}
input = {{ size = 192 }}
preprocess = {{ mean = [0.5, 0.5, 0.5], std = [0.5, 0.5, 0.5], resize = "stretch", colour = "bgr" }}
output = {{ embedding_dim = {dim} }}
"""


def sample_photo_paths() -> list:
    """scikit-learn's two sample photographs (requirements/dev.txt)."""
    from pathlib import Path

    folder = Path(importlib.util.find_spec("sklearn").submodule_search_locations[0]) / "datasets" / "images"
    return [folder / "china.jpg", folder / "flower.jpg"]


@pytest.fixture
def rapidocr():
    try:
        importlib.metadata.distribution(RAPIDOCR)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{RAPIDOCR} (requirements/base.txt) ships the real ONNX models of these tests")


def test_a_real_onnx_model_from_a_wheel_loads_with_its_checksum_and_runs_on_photos(tmp_path, rapidocr):
    with operator_zoo(tmp_path / "zoo.toml", rapidocr_entry("pp-ocr-cls", CLS_FILE, CLS_SHA256, 2)):
        embedder = get_embedder("pp-ocr-cls")
        model = embedder.model
        assert model.input == "x" and model.output == "save_infer_model/scale_0.tmp_1" and model.batch is None
        photos = sample_photo_paths()
        assert len(photos) == 2
        raw = model.run([embedder.load(p) for p in photos])
        # The text-direction classifier answers a softmax over (0 degrees, 180 degrees).
        assert raw.shape == (len(photos), 2) and np.allclose(raw.sum(axis=1), 1.0, atol=1e-4) and (raw >= 0).all()
        vectors = embedder.embed_images(photos)
        assert vectors.shape == (len(photos), 2) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_real_onnx_model_declared_with_the_wrong_output_is_refused(tmp_path, rapidocr):
    with operator_zoo(tmp_path / "zoo.toml", rapidocr_entry("pp-ocr-det", DET_FILE, DET_SHA256, 64)):
        with pytest.raises(ModelMismatch) as caught:
            get_embedder("pp-ocr-det")
    assert "output 'sigmoid_0.tmp_0' has shape" in caught.value.message and "not (batch, 64)" in caught.value.message

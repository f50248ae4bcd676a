"""Small ONNX models the tests export themselves (``torch.onnx.export``), and operator
model zoo files naming them: nothing is downloaded.

``export_yolo`` writes a detector with the output layout of a YOLOv5 export
``(N, boxes, 5 + classes)`` or a YOLOv8 export ``(N, 4 + classes, boxes)``. Its candidate
boxes are fixed (:data:`YOLO_ROWS`, in input pixels) and their class scores are
multiplied by how red the centre of the input is (red minus blue, at least 0), so a red
picture finds them and a blue one finds nothing: the image really flows through the
preprocessing and the forward.
"""

from __future__ import annotations

import contextlib
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

LABELS = ("munition", "vehicle", "logo")
YOLO_SIZE = 64
# cx, cy, w, h, objectness, class scores (YOLOv5's meaning; v8 has no objectness and
# uses objectness * class score as the class score).
YOLO_ROWS = (
    (24.0, 24.0, 32.0, 32.0, 0.9, 1.0, 0.0, 0.0),  # munition, 0.9
    (26.0, 26.0, 32.0, 32.0, 0.8, 1.0, 0.0, 0.0),  # munition, 0.8, overlaps the first: NMS drops it
    (26.0, 26.0, 32.0, 32.0, 0.7, 0.0, 1.0, 0.0),  # vehicle, 0.7, same place: another class, kept
    (55.0, 55.0, 10.0, 10.0, 0.1, 0.0, 0.0, 1.0),  # logo, 0.1: below the confidence threshold
)


def _export(model, example, path: Path, *, input_name: str, output_name: str) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            example,
            str(path),
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            dynamo=False,
        )
    return path


def export_yolo(path: Path, *, layout: str, size: int = YOLO_SIZE, classes: int = len(LABELS)) -> Path:
    """A detector with YOLO_ROWS as its candidates, in ``layout`` (yolov5 | yolov8)."""
    import torch

    rows = torch.tensor(YOLO_ROWS, dtype=torch.float32)
    if classes > 3:
        rows = torch.cat([rows, torch.zeros(len(rows), classes - 3)], dim=1)
    if layout == "yolov8":
        rows = torch.cat([rows[:, :4], rows[:, 5:] * rows[:, 4:5]], dim=1)

    class TinyYolo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("rows", rows)

        def forward(self, x):
            red = (x[:, 0, size // 2, size // 2] - x[:, 2, size // 2, size // 2]).clamp(min=0.0)
            out = self.rows.unsqueeze(0).repeat(x.shape[0], 1, 1)
            first = 5 if layout == "yolov5" else 4
            out = torch.cat([out[..., :first], out[..., first:] * red.view(-1, 1, 1)], dim=2)
            return out.transpose(1, 2) if layout == "yolov8" else out

    return _export(TinyYolo(), torch.zeros(1, 3, size, size), path, input_name="images", output_name="output0")


def export_embedder(path: Path, *, dim: int = 16, size: int = 32, seed: int = 0):
    """A tiny convolutional embedder (fixed seed); returns (path, the torch module)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, dim, 3, stride=2, padding=1),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
        ).eval()
    _export(model, torch.zeros(1, 3, size, size), path, input_name="pixels", output_name="embedding")
    return path, model


def write_labels(path: Path, labels=LABELS) -> Path:
    path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return path


def detector_entry(name: str, onnx_file: str, *, layout: str, labels: str = "labels.txt", extra: str = "") -> str:
    """A [[model]] entry for an exported YOLO detector (paths relative to the file)."""
    return textwrap.dedent(
        f"""
        [[model]]
        name = "{name}"
        kind = "detection"
        runtime = "onnx"
        architecture = "tiny-{layout}"
        licence = "test fixture"
        weights = {{ path = "{onnx_file}" }}
        input = {{ size = {YOLO_SIZE} }}
        preprocess = {{ scale = 0.00392156862745098, resize = "letterbox" }}
        output = {{ labels = "{labels}", layout = "{layout}", confidence = 0.25, iou = 0.5{extra} }}
        """
    )


@contextlib.contextmanager
def operator_zoo(path: Path, text: str) -> Iterator[None]:
    """Write ``text`` as the operator's model zoo file and install it; the shipped
    entries alone again afterwards. Raises the ConfigError of a faulty file."""
    from modelzoo import registry
    from modelzoo.detection import clear_detector_cache
    from modelzoo.embedding import clear_embedder_cache

    path.write_text(text, encoding="utf-8")
    error = registry.zoo_reload(operator=str(path))
    try:
        if error is not None:
            raise error
        yield
    finally:
        registry.zoo_reload(operator="")
        clear_embedder_cache()
        clear_detector_cache()

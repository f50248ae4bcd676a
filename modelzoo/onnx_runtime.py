"""ONNX Runtime as a model-zoo runtime: embedders and YOLO-style detectors from ``.onnx``
files an operator names in the configuration, with no code.

Opening a file checks it against its entry before anything runs: one image input (or
``input.name``) of rank 4 with 3 channels and, where the file fixes them, the entry's
input size; the output (``output.layer``, else the only or first one) of the shape the
entry says (an embedding of ``embedding_dim``; a YOLOv5 ``(N, boxes, 5 + classes)`` or
YOLOv8 ``(N, 4 + classes, boxes)`` layout whose class count is the label file's length).
Dimensions the file leaves open are checked on a blank forward at load. A mismatch is
:class:`ModelMismatch` (503) naming the file, the entry and what differs.

Images are prepared as the entry says (crop, letterbox or stretch to the square input;
mean/std or scale; RGB or BGR), in numpy: no torch on this path. Detections are decoded
to boxes, kept above the confidence threshold, and reduced by per-class NMS at the IoU
threshold; boxes come back normalised to the upright image, like the torchvision ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image

from core.errors import ServiceUnavailable
from core.images import to_rgb

from .specs import DetectionModelSpec, EmbeddingModelSpec, ModelSpec
from .weights import WeightsIncompatible

LETTERBOX_GREY = (114, 114, 114)
# Candidates kept (by score) before NMS: bounds its cost on a file with many anchors.
MAX_NMS_CANDIDATES = 3000


class ModelMismatch(ServiceUnavailable):
    code = "model_mismatch"


def _resample(spec: ModelSpec) -> Image.Resampling:
    return Image.Resampling.BICUBIC if spec.interpolation == "bicubic" else Image.Resampling.BILINEAR


@dataclass(frozen=True)
class Placement:
    """Where the model's input square lies on the original image: normalised
    x = ax * (input x) + bx, and likewise for y."""

    ax: float
    bx: float
    ay: float
    by: float

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """(n, 4) x1, y1, x2, y2 in input pixels -> normalised to the image, clipped."""
        out = np.empty_like(boxes, dtype=np.float64)
        out[:, 0::2] = boxes[:, 0::2] * self.ax + self.bx
        out[:, 1::2] = boxes[:, 1::2] * self.ay + self.by
        return np.clip(out, 0.0, 1.0)


def prepare_square(img: Image.Image, spec: ModelSpec) -> tuple[np.ndarray, Placement]:
    """Upright RGB, then the entry's resize mode to ``input_size`` square: an HxWx3 uint8
    array and where it lies on the image."""
    size = spec.input_size
    w, h = img.size
    if img.format == "JPEG" and getattr(img, "tile", None) and max(w, h) > size:
        scale = size / (min(w, h) if spec.resize != "letterbox" else max(w, h))
        img.draft(img.mode, (math.ceil(w * scale), math.ceil(h * scale)))
    img = to_rgb(img)
    w, h = img.size
    resample = _resample(spec)
    if spec.resize == "stretch":
        out = img.resize((size, size), resample, reducing_gap=3.0)
        return np.asarray(out, dtype=np.uint8), Placement(1 / size, 0.0, 1 / size, 0.0)
    if spec.resize == "letterbox":
        ratio = size / max(w, h)
        nw, nh = max(1, round(w * ratio)), max(1, round(h * ratio))
        canvas = Image.new("RGB", (size, size), LETTERBOX_GREY)
        left, top = (size - nw) // 2, (size - nh) // 2
        canvas.paste(img.resize((nw, nh), resample, reducing_gap=3.0), (left, top))
        return np.asarray(canvas, dtype=np.uint8), Placement(1 / nw, -left / nw, 1 / nh, -top / nh)
    side = min(w, h) * getattr(spec, "crop_pct", 1.0)
    left, top = (w - side) / 2.0, (h - side) / 2.0
    out = img.resize((size, size), resample, box=(left, top, left + side, top + side), reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8), Placement(side / (size * w), left / w, side / (size * h), top / h)


class OnnxModel:
    """An ONNX Runtime session for one entry, its inputs and outputs checked; runs
    prepared uint8 NHWC batches. ``session.run`` is safe from several threads."""

    def __init__(self, spec: ModelSpec, path: str | Path):
        self.spec = spec
        self.path = str(path)
        self.session = _open(spec, self.path)
        self.input, self.batch = self._check_input()
        self.output, self.output_shape = self._check_output()
        self._mean = (np.asarray(spec.mean, dtype=np.float32) * 255.0).reshape(1, 1, 1, 3)
        self._inv_std = (1.0 / (np.asarray(spec.std, dtype=np.float32) * 255.0)).reshape(1, 1, 1, 3)
        self._checked_run = False
        if not all(isinstance(d, int) for d in self.output_shape[1:]):
            # The file leaves the size open: learn it from one blank forward now, so a
            # mismatch is refused at load and not on the first picture.
            self.run([np.zeros((spec.input_size, spec.input_size, 3), dtype=np.uint8)])

    def mismatch(self, what: str) -> ModelMismatch:
        return ModelMismatch(
            f"The ONNX file {self.path} does not match model {self.spec.name!r} ({self.spec.source_file}): {what}",
            fields={"path": self.path, "model": self.spec.name},
        )

    def _check_input(self) -> tuple[str, int | None]:
        inputs = self.session.get_inputs()
        names = [i.name for i in inputs]
        if self.spec.input_name:
            chosen = [i for i in inputs if i.name == self.spec.input_name]
            if not chosen:
                raise self.mismatch(f"input.name is {self.spec.input_name!r}, but its inputs are {names}.")
            node = chosen[0]
        elif len(inputs) != 1:
            raise self.mismatch(f"it has {len(inputs)} inputs {names}; name the image input with input.name.")
        else:
            node = inputs[0]
        shape = list(node.shape)
        if node.type != "tensor(float)":
            raise self.mismatch(f"input {node.name!r} is {node.type}, not a float32 image tensor.")
        if len(shape) != 4:
            raise self.mismatch(f"input {node.name!r} has shape {shape}, not (batch, 3, height, width).")
        if isinstance(shape[1], int) and shape[1] != 3:
            raise self.mismatch(f"input {node.name!r} has shape {shape}: {shape[1]} channels, not 3 (NCHW RGB or BGR).")
        for axis, label in ((2, "height"), (3, "width")):
            if isinstance(shape[axis], int) and shape[axis] != self.spec.input_size:
                raise self.mismatch(f"input {node.name!r} has shape {shape}: {label} {shape[axis]}, but input.size is {self.spec.input_size}.")
        return node.name, shape[0] if isinstance(shape[0], int) else None

    def _check_output(self) -> tuple[str, list]:
        outputs = self.session.get_outputs()
        names = [o.name for o in outputs]
        wanted = getattr(self.spec, "output_layer", "")
        if wanted:
            chosen = [o for o in outputs if o.name == wanted]
            if not chosen:
                raise self.mismatch(f"output.layer is {wanted!r}, but its outputs are {names}.")
            node = chosen[0]
        elif isinstance(self.spec, EmbeddingModelSpec) and len(outputs) != 1:
            raise self.mismatch(f"it has {len(outputs)} outputs {names}; name the embedding with output.layer.")
        else:
            node = outputs[0]
        shape = list(node.shape)
        self.check_output_shape(shape, node.name)
        return node.name, shape

    def check_output_shape(self, shape: Sequence, name: str | None = None) -> None:
        """Whether an output of ``shape`` (ints where known) is what the entry says."""
        name = name or self.output
        spec = self.spec
        if isinstance(spec, EmbeddingModelSpec):
            dims = list(shape)
            if len(dims) == 4 and dims[2:] == [1, 1]:
                dims = dims[:2]
            if len(dims) != 2:
                raise self.mismatch(f"output {name!r} has shape {list(shape)}, not (batch, {spec.embedding_dim}).")
            if isinstance(dims[1], int) and dims[1] != spec.embedding_dim:
                raise self.mismatch(f"output {name!r} has shape {list(shape)}: {dims[1]} values, but output.embedding_dim is {spec.embedding_dim}.")
            return
        if len(shape) != 3:
            raise self.mismatch(f"output {name!r} has shape {list(shape)}, not a YOLO layout (batch, boxes, values) or (batch, values, boxes).")
        extra = 5 if spec.output_layout == "yolov5" else 4
        axis = 2 if spec.output_layout == "yolov5" else 1
        found = shape[axis]
        if isinstance(found, int) and found != extra + spec.num_classes:
            where = f"the label file {spec.labels_file}" if spec.labels_file else "output.num_classes"
            layout = "(batch, boxes, 5 + classes)" if axis == 2 else "(batch, 4 + classes, boxes)"
            raise self.mismatch(
                f"output {name!r} has shape {list(shape)}: as {spec.output_layout} {layout} that is {found - extra} classes, "
                f"but {where} has {spec.num_classes}."
            )

    def run(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """The chosen output for prepared HxWx3 uint8 arrays, one row per image."""
        batch = np.stack(arrays).astype(np.float32)
        if self.spec.colour == "bgr":
            batch = batch[..., ::-1]
        batch = ((batch - self._mean) * self._inv_std).transpose(0, 3, 1, 2)
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        step = self.batch or len(batch)
        parts = []
        for start in range(0, len(batch), step):
            chunk = batch[start : start + step]
            if self.batch and len(chunk) < self.batch:  # a file with a fixed batch size
                chunk = np.concatenate([chunk, np.zeros((self.batch - len(chunk), *chunk.shape[1:]), np.float32)])
            out = self.session.run([self.output], {self.input: chunk})[0]
            parts.append(out[: len(batch) - start])
        out = np.concatenate(parts)
        if not self._checked_run:
            self.check_output_shape(list(out.shape))
            self._checked_run = True
        return out


def _open(spec: ModelSpec, path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    threads = int(getattr(settings, "EMBED_THREADS", 0) or 0)
    if threads > 0:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if getattr(settings, "DEVICE", "auto") != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(path, sess_options=options, providers=providers)
    except Exception as exc:  # ONNX Runtime raises its own types for files it cannot load
        raise WeightsIncompatible(f"The ONNX file {path} for model {spec.name!r} could not be loaded: {exc}"[:2000]) from None


def onnx_session(spec: ModelSpec, path: str | Path) -> OnnxModel:
    """Open ``path`` for ``spec`` and check it against the entry (ModelMismatch, 503)."""
    return OnnxModel(spec, path)


# --- YOLO-style detection -------------------------------------------------------------------


def yolo_candidates(out: np.ndarray, layout: str, num_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw output -> (boxes x1,y1,x2,y2 in input pixels, scores, class ids)."""
    rows = out.T if layout == "yolov8" else out
    rows = rows.astype(np.float32, copy=False)
    if layout == "yolov5":
        scores_all = rows[:, 5 : 5 + num_classes] * rows[:, 4:5]
    else:
        scores_all = rows[:, 4 : 4 + num_classes]
    class_ids = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(rows)), class_ids]
    cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, scores, class_ids


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def yolo_detections(out: np.ndarray, spec: DetectionModelSpec, placement: Placement, *, confidence: float | None = None) -> list[dict]:
    """Decoded, thresholded, per-class NMS'd detections of one image, best first."""
    threshold = spec.confidence if confidence is None else confidence
    boxes, scores, class_ids = yolo_candidates(out, spec.output_layout, spec.num_classes)
    keep = scores >= threshold
    boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
    if len(scores) > MAX_NMS_CANDIDATES:
        top = np.argsort(scores)[::-1][:MAX_NMS_CANDIDATES]
        boxes, scores, class_ids = boxes[top], scores[top], class_ids[top]
    if not len(scores):
        return []
    # Per-class NMS in one pass: boxes of different classes are moved apart so they never overlap.
    offset = (class_ids.astype(np.float32) * (float(np.abs(boxes).max()) + 1.0))[:, None]
    kept = nms(boxes + offset, scores, spec.iou)[: spec.max_detections]
    normalised = placement.to_image(boxes[kept])
    return [
        {
            "label": spec.labels[int(c)] if int(c) < len(spec.labels) else str(int(c)),
            "label_id": int(c),
            "score": round(float(s), 4),
            "box": [round(float(v), 4) for v in box],
        }
        for box, s, c in zip(normalised, scores[kept], class_ids[kept], strict=True)
    ]


class OnnxDetector:
    """A YOLO-style ONNX detector with the same ``detect`` answer as the torchvision one."""

    def __init__(self, spec: DetectionModelSpec, model: OnnxModel):
        self.spec = spec
        self.model = model
        self.labels = list(spec.labels)
        self.score_threshold = spec.confidence

    def detect(self, img: Image.Image) -> list[dict]:
        array, placement = prepare_square(img, self.spec)
        out = self.model.run([array])[0]
        return yolo_detections(out, self.spec, placement)


def onnx_detector(spec: DetectionModelSpec, weights: Path) -> OnnxDetector:
    return OnnxDetector(spec, onnx_session(spec, weights))

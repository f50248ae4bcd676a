"""Object detection with the model zoo's detectors: torchvision models, and YOLO-style
ONNX exports with their own labels (``modelzoo.onnx_runtime``).

One detector per model per process, loaded on first use. Weights come from the same
places as embedding weights (the entry's file, a local file under MODELS_DIR, a pip
package, else the torch hub cache); the random-weight test entry is built from its
fixed seed with a zero score threshold so tests see boxes. Boxes are returned in
normalised coordinates (0..1) of the upright image, so a page can draw them on any
thumbnail size; every detector answers ``detect(image)`` with the same dicts.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PIL import Image

from core.images import to_rgb

from .registry import DetectionModelSpec, get_model
from .rng import BUILD_LOCK, seeded
from .weights import resolve_weights

_cache: dict[str, tuple[DetectionModelSpec, Any]] = {}
_lock = threading.Lock()


class Detector:
    """A loaded torchvision detector; thread-safe (one forward at a time)."""

    def __init__(self, spec: DetectionModelSpec, model: Any, labels: list[str], score_threshold: float):
        self.spec = spec
        self.model = model
        self.labels = labels
        self.score_threshold = score_threshold
        self._run_lock = threading.Lock()

    def detect(self, img: Image.Image) -> list[dict]:
        import torch

        rgb = to_rgb(img)
        w, h = rgb.size
        tensor = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
        with self._run_lock, torch.inference_mode():
            out = self.model([tensor])[0]
        found = []
        for box, label, score in zip(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist(), strict=True):
            if score < self.score_threshold:
                continue
            x1, y1, x2, y2 = box
            found.append(
                {
                    "label": self.labels[label] if 0 <= label < len(self.labels) else str(label),
                    "label_id": int(label),
                    "score": round(float(score), 4),
                    "box": [round(max(0.0, min(1.0, v)), 4) for v in (x1 / w, y1 / h, x2 / w, y2 / h)],
                }
            )
            if len(found) >= self.spec.max_detections:
                break
        return found


def _coco_labels() -> list[str]:
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    return list(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def _build(spec: DetectionModelSpec) -> Detector:
    import torch
    import torchvision

    weights_path = resolve_weights(spec)
    kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None, "num_classes": spec.num_classes}
    threshold = spec.confidence
    if spec.random_weights:
        threshold = 0.0
        kwargs["score_thresh"] = 0.0
    with seeded(spec.seed) if spec.random_weights else BUILD_LOCK:
        model = torchvision.models.get_model(spec.architecture, **kwargs)
    if weights_path is not None:
        state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    model.eval()
    return Detector(spec, model, _coco_labels(), threshold)


def _build_onnx(spec: DetectionModelSpec):
    from .onnx_runtime import onnx_detector

    return onnx_detector(spec, resolve_weights(spec))


# The one place that branches on DetectionModelSpec.runtime.
DETECTOR_FACTORIES = {"torchvision": _build, "onnx": _build_onnx}


def get_detector(name: str) -> Detector:
    """The process-wide detector for model-zoo entry ``name`` (404 unknown, 400 not a
    detector, 503 weights missing or damaged, or a file that does not match its entry)."""
    from core.errors import InvalidInput

    spec = get_model(name)
    if not isinstance(spec, DetectionModelSpec):
        raise InvalidInput(f"Model {name!r} is an embedding model, not a detection model.", code="not_a_detection_model")
    resolve_weights(spec)  # fail fast, before taking the lock
    cached = _cache.get(name)
    if cached is None or cached[0] != spec:
        with _lock:
            cached = _cache.get(name)
            if cached is None or cached[0] != spec:
                cached = _cache[name] = (spec, DETECTOR_FACTORIES[spec.runtime](spec))
    return cached[1]


def clear_detector_cache() -> None:
    """Forget loaded detectors (tests; after replacing a weights file)."""
    with _lock:
        _cache.clear()

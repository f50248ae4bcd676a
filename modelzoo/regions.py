"""Region vectors: embeddings of fixed parts of a picture, beside its whole-picture vector.

A crop of a picture (half of it, a corner) looks to a network like another picture: its
whole-picture vector alone often ranks others first. So each picture also gets the
vectors of its centre half and of its four quarters (``REGION_BOXES``), and a crop
finds the region it came from (search_app stores them as children of their media).

They are made from the same decode as the whole-picture vector (a JPEG decoded at the
reduced DCT scale that covers the model input: halves and quarters of that still cover
``REGION_INPUT``), and run through the network at ``REGION_INPUT`` pixels rather than
the model's own input size: about half the compute each, and measured no worse at
matching crops embedded at full size (bench/robustness.py). A region whose shorter side
is under ``MIN_REGION_SIDE`` pixels is left out, so a small picture keeps only its
whole-picture vector. The perceptual hash gets none: it hashes a whole frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from core.images import to_rgb

Box = tuple[float, float, float, float]

# Region number -> normalised (x1, y1, x2, y2). Numbers are stored in the index labels:
# never renumber; a new set gets new numbers and a new REGION_SET.
REGION_BOXES: dict[int, Box] = {
    1: (0.25, 0.25, 0.75, 0.75),  # centre half
    2: (0.0, 0.0, 0.5, 0.5),  # quarters: top left, top right, bottom left, bottom right
    3: (0.5, 0.0, 1.0, 0.5),
    4: (0.0, 0.5, 0.5, 1.0),
    5: (0.5, 0.5, 1.0, 1.0),
}
REGION_SET = 1
REGION_INPUT = 160
MIN_REGION_SIDE = 64


def has_regions(spec) -> bool:
    """Whether pictures get region vectors under this embedding model (a neural one with
    real weights, unless ``settings.REGION_VECTORS`` is off)."""
    from django.conf import settings

    # Random-weight entries exist for fast tests, whose pictures need no regions.
    return getattr(spec, "backend", "") == "timm" and not getattr(spec, "random_weights", False) and bool(getattr(settings, "REGION_VECTORS", True))


def region_boxes(width: int, height: int) -> list[tuple[int, Box]]:
    """The regions a ``width`` x ``height`` picture gets (none when it is too small)."""
    out = []
    for number, (x1, y1, x2, y2) in REGION_BOXES.items():
        if min((x2 - x1) * width, (y2 - y1) * height) >= MIN_REGION_SIDE:
            out.append((number, (x1, y1, x2, y2)))
    return out


def box_pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return round(x1 * width), round(y1 * height), round(x2 * width), round(y2 * height)


def prepare_region(embedder, crop: Image.Image) -> np.ndarray:
    """A region's network input: the embedder's centre crop, at ``REGION_INPUT`` px."""
    spec = embedder.spec
    w, h = crop.size
    side = min(w, h) * spec.crop_pct
    left, top = (w - side) / 2.0, (h - side) / 2.0
    size = min(REGION_INPUT, embedder.input_size)
    resample = Image.Resampling.BICUBIC if spec.interpolation == "bicubic" else Image.Resampling.BILINEAR
    out = crop.resize((size, size), resample, box=(left, top, left + side, top + side), reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8)


def prepare_regions(embedder, img: Image.Image) -> list[tuple[int, np.ndarray]]:
    """(region number, network input) for each region of ``img`` (a decoded image, made
    upright and RGB here as ``Embedder.prepare`` does); [] for a model without regions or
    a small picture."""
    if not has_regions(embedder.spec):
        return []
    img = to_rgb(img)
    w, h = img.size
    return [(number, prepare_region(embedder, img.crop(box_pixels(box, w, h)))) for number, box in region_boxes(w, h)]


def forward_regions(embedder, arrays: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
    """Vectors of prepared region inputs, in batches (L2-normalised float32 rows)."""
    if not len(arrays):
        return np.zeros((0, embedder.dim), dtype=np.float32)
    size = max(1, int(batch_size or embedder.batch_size))
    return np.concatenate([embedder.forward(arrays[i : i + size]) for i in range(0, len(arrays), size)])

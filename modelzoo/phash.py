"""Perceptual hash (pHash) as an embedding: no weights, no torch, a few microseconds an image.

The classic DCT hash: the whole image as ``size x size`` grayscale (area-averaged, so
re-encoding and resizing barely move it), a 2-D DCT-II, the ``side x side`` lowest
frequencies without the DC term, each bit set where the coefficient is above their
median. The bits are stored as a vector so the hnswlib cosine index searches them like
any other feature: bit b -> +1/sqrt(n) or -1/sqrt(n) (the DC slot stays 0), so every
vector has unit norm and

    cosine(a, b) = 1 - 2 * hamming(a, b) / n,    n = side*side - 1 bits.

A hamming distance of 10 on the 64-slot hash (63 bits) is a cosine of about 0.68.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

from core.images import to_rgb


@lru_cache(maxsize=8)
def dct_rows(size: int, side: int) -> np.ndarray:
    """The first ``side`` rows of the orthonormal DCT-II matrix of order ``size``."""
    n = np.arange(size)
    k = np.arange(side)[:, None]
    m = np.cos(math.pi * (2 * n + 1) * k / (2 * size)) * math.sqrt(2.0 / size)
    m[0] /= math.sqrt(2.0)
    return m.astype(np.float32)


def phash_prepare(img: Image.Image, size: int) -> np.ndarray:
    """Upright grayscale ``size x size`` float32 array of the whole image (no crop)."""
    w, h = img.size
    if img.format == "JPEG" and getattr(img, "tile", None) and min(w, h) > 4 * size:
        # Decode at a reduced DCT scale: the hash only ever sees size x size pixels.
        img.draft(img.mode, (4 * size, 4 * size))
    gray = to_rgb(img).convert("L")
    out = gray.resize((size, size), Image.Resampling.BOX, reducing_gap=2.0)
    return np.asarray(out, dtype=np.float32)


def phash_vectors(arrays: np.ndarray, side: int) -> np.ndarray:
    """Hash vectors of a stack of ``(n, size, size)`` grayscale arrays: shape (n, side*side),
    entries +-1/sqrt(side*side - 1) and 0 in the DC slot."""
    x = np.asarray(arrays, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    d = dct_rows(x.shape[-1], side)
    coeffs = np.einsum("ij,njk,lk->nil", d, x, d, optimize=True).reshape(len(x), side * side)
    ac = coeffs[:, 1:]
    bits = ac > np.median(ac, axis=1, keepdims=True)
    out = np.zeros((len(x), side * side), dtype=np.float32)
    out[:, 1:] = np.where(bits, 1.0, -1.0) / math.sqrt(side * side - 1)
    return out


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    """Bits that differ between two hash vectors."""
    return int(np.count_nonzero((np.asarray(a) > 0) != (np.asarray(b) > 0)))

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


# --- the whole-picture hash of copy detection ------------------------------------------------------
#
# Every stored picture keeps this hash (Media.phash) and a search compares the query's with
# all of them (search_app.query.hashes): a tiny, heavily compressed, blurred or recoloured
# copy whose network vector has drifted still hashes within a few bits of its source.

HASH_SIZE, HASH_SIDE = 32, 8  # a 32 x 32 grey picture, its 8 x 8 lowest frequencies: 63 bits
HASH_BITS = HASH_SIDE * HASH_SIDE - 1
# A picture whose grey levels vary less than this is plain: its hash says nothing.
MIN_CONTENT_STD = 8.0
# Hashes at most this many bits apart are the same picture: on bench/robustness.py true
# copies are 0-3 bits apart, the nearest unrelated pictures 14 or more.
SAME_PICTURE_BITS = 8
# Stored for a picture too plain to hash (a packed hash is never negative).
NO_HASH = -1


def _grey(img: Image.Image) -> Image.Image:
    return to_rgb(img).convert("L")  # upright first: a stored picture may carry an EXIF turn


def _small(grey: Image.Image) -> np.ndarray:
    return np.asarray(grey.resize((HASH_SIZE, HASH_SIZE), Image.Resampling.BOX), dtype=np.float32)


def _hash_of_small(small: np.ndarray) -> np.ndarray | None:
    if float(small.std()) < MIN_CONTENT_STD:
        return None
    return phash_vectors(small, HASH_SIDE)[0]


def picture_hash_vector(img: Image.Image) -> np.ndarray | None:
    """The hash vector of a whole picture (any mode, any size), None for a plain one."""
    return _hash_of_small(_small(_grey(img)))


_BIT_VALUES = np.left_shift(np.uint64(1), np.arange(HASH_BITS, dtype=np.uint64))


def pack_hash(vector: np.ndarray | None) -> int | None:
    """A hash vector's 63 bits as one non-negative integer (fits a signed 64-bit column)."""
    if vector is None:
        return None
    bits = np.asarray(vector)[1:] > 0
    return int(np.bitwise_or.reduce(_BIT_VALUES[bits])) if bits.any() else 0


def picture_hash(img: Image.Image) -> int | None:
    """The packed hash of a whole picture, None for a plain one."""
    return pack_hash(picture_hash_vector(img))


def picture_hashes(img: Image.Image) -> tuple[int | None, int | None]:
    """The packed hashes of a picture and of its mirror image, from one grey copy."""
    grey = _grey(img)
    return pack_hash(_hash_of_small(_small(grey))), pack_hash(_hash_of_small(_small(grey.transpose(Image.Transpose.FLIP_LEFT_RIGHT))))


def nearest_bits(values, value: int | None) -> int | None:
    """The fewest bits between ``value`` and any of ``values`` (packed hashes; None or
    NO_HASH for a picture without one); None when either side has no hash."""
    wanted = [v for v in values if v is not None and v >= 0]
    if value is None or value < 0 or not wanted:
        return None
    return int(hash_distances(np.asarray(wanted, dtype=np.uint64), value).min())


def hash_distances(table: np.ndarray, value: int) -> np.ndarray:
    """Bits that differ between ``value`` and each packed hash of ``table`` (uint64)."""
    return np.bitwise_count(np.bitwise_xor(table, np.uint64(value))).astype(np.int8)

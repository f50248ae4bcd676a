"""The geometric check: is a result the same picture as the query, shown edited?

Vectors say two pictures look alike; this says whether one is a copy of the other.
ORB keypoints (OpenCV) of both pictures are matched, and RANSAC fits one similarity
transform (shift, scale, rotation) that many matches agree on. Many agreeing matches
spread over both pictures mean the same pixels, moved and scaled: a crop, a resize, a
re-encode, a picture pasted into another or shown in a screenshot. The transform also
says where the query's content lies in the result and where the result lies in the
query (the matched region). A mirrored copy is checked with the query's mirror image.

Pictures with too few keypoints (a tiny heavily compressed copy, a blurred one, flat
art) can still be confirmed by their perceptual hash (``query.matching``, with
``stored_hash`` for pictures stored before hashes were kept). Those whose matches all
land on a few points or fit no transform are not confirmed; the vector thresholds
decide those.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]

SIDE = 640  # longer side at which keypoints are found
FEATURES = 1000
RATIO = 0.75  # Lowe's ratio test
MIN_INLIERS = 15
MIN_SPREAD = 0.02  # inliers' hull, as a share of each picture's area
MIN_SCALE, MAX_SCALE = 1 / 20, 20.0
RANSAC_TOLERANCE = 0.015  # of the result's diagonal
ORB_SETTINGS = {"scaleFactor": 1.2, "nlevels": 8, "fastThreshold": 12}


@dataclass(frozen=True)
class Keypoints:
    points: np.ndarray  # (n, 2) float32 pixels of the picture at ``size``
    descriptors: np.ndarray | None  # (n, 32) uint8
    size: tuple[int, int]  # (width, height) the points refer to


@dataclass(frozen=True)
class GeometricMatch:
    inliers: int
    box: Box  # where the query's content lies in the result (normalised)
    query_box: Box  # where the result lies in the query (normalised)
    mirrored: bool


def keypoints(img: Image.Image, side: int = SIDE, *, enlarge: float = 1.0) -> Keypoints:
    """ORB keypoints of a picture (any mode) at ``side`` pixels on its longer side; a
    smaller picture is enlarged up to ``enlarge`` times towards it (a part of a query,
    a picture pasted small into another: ORB's pyramid only shrinks, so the stored
    picture's full-size details would find no partner at the part's own size)."""
    return _detect(_grey_at(img, side, enlarge))


def keypoints_and_mirror(img: Image.Image, side: int = SIDE, *, enlarge: float = 1.0) -> tuple[Keypoints, Keypoints]:
    """``keypoints`` of a picture and of its mirror image, the mirror flipped from the
    picture's grey copy at ``side`` (a query is mostly larger: converting and
    resizing it once instead of twice)."""
    grey = _grey_at(img, side, enlarge)
    return _detect(grey), _detect(np.ascontiguousarray(grey[:, ::-1]))


def mirror_keypoints(img: Image.Image, side: int = SIDE) -> Keypoints:
    """``keypoints`` of a picture's mirror image (its plain ones are known already)."""
    grey = _grey_at(img, side, 1.0)
    return _detect(np.ascontiguousarray(grey[:, ::-1]))


def _grey_at(img: Image.Image, side: int, enlarge: float) -> np.ndarray:
    grey = img.convert("L")
    scale = side / max(grey.size)
    if scale < 1:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.Resampling.BILINEAR)
    elif enlarge > 1 and scale > 1:
        factor = min(scale, enlarge)
        grey = grey.resize((max(1, round(grey.width * factor)), max(1, round(grey.height * factor))), Image.Resampling.BICUBIC)
    return np.asarray(grey)


def _detect(array: np.ndarray) -> Keypoints:
    import cv2

    orb = cv2.ORB_create(nfeatures=FEATURES, **ORB_SETTINGS)
    found, descriptors = orb.detectAndCompute(array, None)
    points = np.float32([k.pt for k in found]) if found else np.zeros((0, 2), dtype=np.float32)
    return Keypoints(points, descriptors, (array.shape[1], array.shape[0]))


def stored_hash(name: str) -> int | None:
    """The packed perceptual hash of a stored picture read from its file (None: plain)."""
    from django.core.files.storage import default_storage

    from media_app.imaging import file_picture_hash

    with default_storage.open(name, "rb") as fh:
        return file_picture_hash(fh)


def _hull_share(points: np.ndarray, size: tuple[int, int]) -> float:
    import cv2

    if len(points) < 3:
        return 0.0
    return float(cv2.contourArea(cv2.convexHull(points.astype(np.float32)))) / float(size[0] * size[1])


def _bounds(corners: np.ndarray, size: tuple[int, int]) -> Box:
    w, h = size
    x1, y1 = np.clip(corners.min(axis=0), 0, [w, h])
    x2, y2 = np.clip(corners.max(axis=0), 0, [w, h])
    return (round(float(x1 / w), 4), round(float(y1 / h), 4), round(float(x2 / w), 4), round(float(y2 / h), 4))


def verify(query: Keypoints, result: Keypoints, *, is_mirror: bool = False) -> GeometricMatch | None:
    """The match of ``query`` in ``result`` when one transform explains enough spread-out
    matches, else None."""
    import cv2

    if query.descriptors is None or result.descriptors is None or len(query.descriptors) < 8 or len(result.descriptors) < 8:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, result.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    src = query.points[[m.queryIdx for m in good]]
    dst = result.points[[m.trainIdx for m in good]]
    tolerance = RANSAC_TOLERANCE * float(np.hypot(*result.size))
    matrix, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=tolerance, maxIters=2000, confidence=0.995)
    if matrix is None or mask is None:
        return None
    inlier = mask.ravel().astype(bool)
    count = int(inlier.sum())
    if count < MIN_INLIERS or len({m.trainIdx for m, keep in zip(good, inlier, strict=True) if keep}) < MIN_INLIERS * 0.8:
        return None
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return None
    if _hull_share(dst[inlier], result.size) < MIN_SPREAD or _hull_share(src[inlier], query.size) < MIN_SPREAD:
        return None
    qw, qh = query.size
    query_corners = np.float32([[0, 0], [qw, 0], [qw, qh], [0, qh]])
    in_result = query_corners @ matrix[:, :2].T + matrix[:, 2]
    inverse = cv2.invertAffineTransform(matrix)
    rw, rh = result.size
    result_corners = np.float32([[0, 0], [rw, 0], [rw, rh], [0, rh]])
    in_query = result_corners @ inverse[:, :2].T + inverse[:, 2]
    query_box = _bounds(in_query, query.size)
    if is_mirror:
        query_box = (round(1 - query_box[2], 4), query_box[1], round(1 - query_box[0], 4), query_box[3])
    return GeometricMatch(count, _bounds(in_result, result.size), query_box, is_mirror)


class StoredCache:
    """What was read from stored pictures (keypoints, hashes) by sha256, the most recent
    ``size`` kept (a search checks its top results; paging and repeated searches meet
    the same ones)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, make):
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        made = make()
        with self._lock:
            self._items[key] = made
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return made

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


stored_keypoints = StoredCache()
stored_hashes = StoredCache(4096)

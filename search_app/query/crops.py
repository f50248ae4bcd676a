"""Where a picture may sit inside a query image: the parts of the query searched besides
the whole of it.

A re-posted picture often arrives inside something else: a phone screenshot of a post,
a picture pasted into another one, black bars around it, a turned print on a plain
background. The whole query's vector then mostly describes the surroundings. These
cheap image-processing passes (no network) propose where the picture is, and each
proposal is embedded and searched like the whole query:

* :func:`content_box` -- the query without uniform borders (letterbox and pillarbox
  bars, a plain canvas around a picture);
* :func:`turned_picture` -- a picture turned by some degrees on a plain background,
  turned back upright;
* :func:`framed_boxes` -- axis-aligned rectangles outlined by long straight edges: the
  photo of a screenshot, a picture inside a picture, a panel of a collage.

Boxes are normalised (x1, y1, x2, y2) of the upright query image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]

WORK_SIDE = 512  # longer side of the grey image the passes run on
UNIFORM_TOL = 12  # grey levels a plain border may vary by
MAX_FRAMED = 3
# A part whose grey levels vary less than this (a black bar, a white banner) shows no
# picture: it would only match other plain pictures.
MIN_CONTENT_STD = 8.0


@dataclass(frozen=True)
class QueryCrop:
    """One part of the query to search with: ``key`` names it (cache key, answers),
    ``box`` is where it is in the query, ``image`` what is embedded."""

    key: str
    box: Box
    image: Image.Image


def _grey(img: Image.Image, side: int = WORK_SIDE) -> np.ndarray:
    grey = img.convert("L")
    scale = side / max(grey.size)
    if scale < 1:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.Resampling.BILINEAR)
    return np.asarray(grey)


def content_box(img: Image.Image) -> Box | None:
    """The box inside uniform borders, or None when there are none (or it is all border)."""
    g = _grey(img).astype(np.int16)
    h, w = g.shape

    def plain_lines(lines: np.ndarray) -> int:
        ref = np.median(lines[0])
        count = 0
        for line in lines:
            if np.percentile(np.abs(line - ref), 95) > UNIFORM_TOL:
                break
            count += 1
        return count

    top, bottom, left, right = plain_lines(g), plain_lines(g[::-1]), plain_lines(g.T), plain_lines(g.T[::-1])
    if top + bottom >= 0.9 * h or left + right >= 0.9 * w:
        return None
    if max(top, bottom) < 0.02 * h and max(left, right) < 0.02 * w:
        return None
    return (left / w, top / h, 1 - right / w, 1 - bottom / h)


def turned_picture(img: Image.Image) -> Image.Image | None:
    """A picture turned by 2-45 degrees on a plain background, turned back and cut out;
    None when the query is not that."""
    import cv2

    g = _grey(img)
    h, w = g.shape
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]]).astype(np.int16)
    ref = np.median(border)
    if np.mean(np.abs(border - ref) <= UNIFORM_TOL) < 0.6:
        return None
    mask = (np.abs(g.astype(np.int16) - ref) > UNIFORM_TOL).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour)
    (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
    if area < 0.2 * h * w or area < 0.85 * rw * rh:
        return None  # small, or not a rectangle
    tilt = angle if angle < 45 else angle - 90
    if abs(tilt) < 2:
        return None
    s = img.width / w
    corners = cv2.boxPoints(((cx * s, cy * s), (rw * s, rh * s), angle)).astype(np.float32)
    total, diff = corners.sum(axis=1), np.diff(corners, axis=1).ravel()
    tl, br, tr, bl = corners[np.argmin(total)], corners[np.argmax(total)], corners[np.argmin(diff)], corners[np.argmax(diff)]
    out_w, out_h = round(float(np.hypot(*(tr - tl)))), round(float(np.hypot(*(bl - tl))))
    if min(out_w, out_h) < 16:
        return None
    matrix = cv2.getPerspectiveTransform(np.float32([tl, tr, br, bl]), np.float32([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]]))
    return Image.fromarray(cv2.warpPerspective(np.asarray(img.convert("RGB")), matrix, (out_w, out_h), flags=cv2.INTER_LINEAR))


def _segments(g: np.ndarray) -> tuple[list, list]:
    """Long horizontal and vertical edge segments: (position, start, end) in pixels;
    the image's own borders count as segments."""
    import cv2

    h, w = g.shape
    horizontal, vertical = [(0.0, 0, w), (h - 1.0, 0, w)], [(0.0, 0, h), (w - 1.0, 0, h)]
    blur = cv2.GaussianBlur(g, (3, 3), 0).astype(np.float32)
    length = max(8, int(0.12 * min(h, w)))
    for axis in (0, 1):
        grad = np.abs(cv2.Sobel(blur, cv2.CV_32F, 0, 1, ksize=3) if axis == 0 else cv2.Sobel(blur, cv2.CV_32F, 1, 0, ksize=3))
        kernel = np.ones((1, length), np.uint8) if axis == 0 else np.ones((length, 1), np.uint8)
        # An opening with a long thin kernel keeps only straight runs of strong edge.
        mask = cv2.morphologyEx((grad > 60).astype(np.uint8), cv2.MORPH_OPEN, kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for k in range(1, count):
            x, y, bw, bh, _ = (int(v) for v in stats[k])
            if axis == 0 and bh <= 12:
                horizontal.append((y + bh / 2, x, x + bw))
            elif axis == 1 and bw <= 12:
                vertical.append((x + bw / 2, y, y + bh))
    return horizontal, vertical


def _lines(segments: list, extent: int, across: int, keep: int = 24) -> list[tuple[float, np.ndarray]]:
    """Segments merged by position (3 px buckets): (position, coverage mask along the
    line), the longest ``keep`` of them plus the image borders. (16 lost the frame of a
    picture pasted into a busy photograph among the photograph's own edges: top-1 of
    bench/robustness.py's picture-in-picture 0.926 with 16, 0.959 with 24.)"""
    buckets: dict[int, list] = {}
    for pos, a, b in segments:
        buckets.setdefault(int(round(pos / 3)), []).append((pos, a, b))
    lines = []
    for items in buckets.values():
        pos = float(np.mean([p for p, _, _ in items]))
        cover = np.zeros(extent + 1, dtype=bool)
        for _, a, b in items:
            cover[int(a) : int(b) + 1] = True
        if cover.mean() >= 0.12 or pos <= 1 or pos >= across - 2:
            lines.append((pos, cover))
    lines.sort(key=lambda line: -line[1].mean())
    return lines[:keep]


def framed_boxes(img: Image.Image, limit: int = MAX_FRAMED) -> list[Box]:
    """Up to ``limit`` rectangles whose four sides are mostly covered by straight edges,
    best first; rectangles on the image's borders count less than framed ones."""
    g = _grey(img)
    h, w = g.shape
    horizontal, vertical = _segments(g)
    rows, cols = _lines(horizontal, w, h), _lines(vertical, h, w)
    found = []
    for y1, top in rows:
        for y2, bottom in rows:
            if y2 - y1 < 0.15 * h:
                continue
            for x1, left in cols:
                for x2, right in cols:
                    if x2 - x1 < 0.15 * w or (x2 - x1) * (y2 - y1) > 0.9 * w * h:
                        continue
                    a, b, c, d = int(x1), int(x2), int(y1), int(y2)
                    support = min(top[a:b].mean(), bottom[a:b].mean(), left[c:d].mean(), right[c:d].mean())
                    if support < 0.6:
                        continue
                    on_border = (y1 <= 1) + (y2 >= h - 2) + (x1 <= 1) + (x2 >= w - 2)
                    found.append((support - 0.1 * on_border, (x1 / w, y1 / h, x2 / w, y2 / h)))
    found.sort(key=lambda item: -item[0])
    kept: list[Box] = []
    for _, box in found:
        if all(iou(box, other) < 0.6 for other in kept):
            kept.append(box)
        if len(kept) >= limit:
            break
    return kept


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def crop(img: Image.Image, box: Box) -> Image.Image:
    w, h = img.size
    return img.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))


def box_key(box: Box) -> str:
    return ",".join(f"{v:.4f}" for v in box)


def query_crops(img: Image.Image) -> list[QueryCrop]:
    """The parts of an upright RGB query image to search besides the whole (see the
    module docstring), without near-duplicates of each other or of the whole."""
    out: list[QueryCrop] = []
    boxes: list[Box] = []
    inner = content_box(img)
    if inner is not None:
        boxes.append(inner)
    turned = turned_picture(img)
    if turned is not None and has_content(turned):
        out.append(QueryCrop("turned", (0.0, 0.0, 1.0, 1.0), turned))
    boxes += framed_boxes(img)
    kept: list[Box] = []
    for box in boxes:
        side = min((box[2] - box[0]) * img.width, (box[3] - box[1]) * img.height)
        if side < 32 or iou(box, (0.0, 0.0, 1.0, 1.0)) > 0.9 or any(iou(box, k) > 0.9 for k in kept):
            continue
        part = crop(img, box)
        if not has_content(part):
            continue
        kept.append(box)
        out.append(QueryCrop(f"crop:{box_key(box)}", box, part))
    return out


def has_content(img: Image.Image) -> bool:
    grey = np.asarray(img.convert("L").resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)
    return float(grey.std()) >= MIN_CONTENT_STD

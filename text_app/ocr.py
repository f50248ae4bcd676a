"""Reading text on pictures: RapidOCR (PP-OCRv4 ONNX models shipped inside the
``rapidocr-onnxruntime`` wheel, run with onnxruntime on the CPU). No download.

What the default models read (docs/text-search.md): the PP-OCRv4 Chinese detector
finds text lines in any script; the recogniser's alphabet is Chinese (simplified and
traditional characters), the Latin alphabet without accents, digits and common
punctuation. Cyrillic, Arabic, Greek, Korean or Devanagari lines are found but read as
Latin look-alikes or dropped.

One engine per process, loaded on first use; calls are serialised by a lock (the ONNX
sessions use ``OCR_THREADS`` threads each, and an ingest's workers would otherwise
oversubscribe the CPU).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from PIL import Image

from core.errors import ServiceUnavailable
from core.images import to_rgb

logger = logging.getLogger(__name__)

PACKAGE = "rapidocr-onnxruntime"
DET_BOX_THRESH = 0.4
DET_UNCLIP_RATIO = 2.0


class OcrUnavailable(ServiceUnavailable):
    code = "ocr_unavailable"


@dataclass(frozen=True)
class OcrLine:
    """One line read: text, axis-aligned box and the quad's corners normalised to the
    image (0..1), and the recogniser's confidence (0..1)."""

    text: str
    box: tuple[float, float, float, float]
    quad: tuple[tuple[float, float], ...]
    confidence: float


@dataclass(frozen=True)
class OcrResult:
    lines: list[OcrLine]
    ms: float


_engine = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()


@functools.cache
def engine_name() -> str:
    """What the stored text says it was read with (MediaWords.ocr_engine)."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "missing"
    return f"rapidocr-onnxruntime=={version} PP-OCRv4"


def _get_engine():
    global _engine
    if _engine is not None:
        return _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise OcrUnavailable(
                    f"OCR needs the {PACKAGE} package (pip install --no-deps -r requirements/nodeps.txt): {exc}", code="ocr_unavailable"
                ) from None
            threads = int(getattr(settings, "OCR_THREADS", 1) or -1)
            t0 = time.perf_counter()
            _engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, print_verbose=False)
            logger.info("OCR engine %s loaded in %.2f s", engine_name(), time.perf_counter() - t0)
    return _engine


def ocr_image(img: Image.Image) -> OcrResult:
    """The text lines on ``img`` (upright as shown), in reading order: top to bottom,
    then left to right. Lines below ``OCR_MIN_CONFIDENCE`` are dropped."""
    engine = _get_engine()
    img = to_rgb(img)
    width, height = img.size
    min_conf = float(getattr(settings, "OCR_MIN_CONFIDENCE", 0.5))
    t0 = time.perf_counter()
    with _run_lock:
        # Given per call (RapidOCR resets them whenever a call passes any option): looser
        # boxes than its defaults (0.5, 1.6), since slanted words lost their ends.
        result, _ = engine(img, text_score=min_conf, box_thresh=DET_BOX_THRESH, unclip_ratio=DET_UNCLIP_RATIO)
    ms = (time.perf_counter() - t0) * 1000
    lines: list[OcrLine] = []
    for points, text, score in result or []:
        text = str(text).strip()
        if not text or float(score) < min_conf:
            continue
        quad = tuple((min(max(float(x) / width, 0.0), 1.0), min(max(float(y) / height, 0.0), 1.0)) for x, y in points)
        xs, ys = [p[0] for p in quad], [p[1] for p in quad]
        box = (round(min(xs), 5), round(min(ys), 5), round(max(xs), 5), round(max(ys), 5))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        lines.append(OcrLine(text=text, box=box, quad=tuple((round(x, 5), round(y, 5)) for x, y in quad), confidence=round(float(score), 5)))
    lines.sort(key=lambda line: (round(line.box[1] * 50), line.box[0]))
    return OcrResult(lines=lines, ms=ms)

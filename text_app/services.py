"""Every write of the text app: OCR text and labels of media.

The same functions serve the ingest (``hooks.on_ingest_media_stored``), the resumable
task over stored media (``tasks.media_words``), the management command and the tests.
Each stores one media's result in one transaction that replaces what was there, so
running one twice, or again after a crash, leaves the same rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from PIL import Image

from core.progress import Reporter, as_reporter
from media_app.models import Media, MediaType

from .models import MediaLabel, MediaWords, TextLine
from .ocr import OcrResult, engine_name, ocr_image
from .query import search_document

logger = logging.getLogger(__name__)

# The kinds of media that are pictures: a video is read through its keyframes.
PICTURE_TYPES = (MediaType.IMAGE, MediaType.VIDEO_FRAME)
# OCR decodes a JPEG at a DCT scale that keeps at least this long side: the detector
# works on at most 2,000 px anyway.
OCR_DECODE_LONG_SIDE = 2000


def _open_picture(media: Media, *, min_long: int = 0) -> Image.Image:
    from django.core.files.storage import default_storage

    from core.images import to_rgb
    from media_app.imaging import open_image_reduced

    with default_storage.open(media.file.name, "rb") as fh:
        img, _ = open_image_reduced(fh, min_long=min_long)
        return to_rgb(img)


def _locked_words(media: Media) -> MediaWords:
    """The media's row, created if missing and locked for this transaction, so two
    runs on one media replace its lines one after the other."""
    MediaWords.objects.get_or_create(media=media)
    return MediaWords.objects.select_for_update().get(pk=media.pk)


def media_ocr_store(*, media: Media, result: OcrResult | None, error: str = "") -> MediaWords:
    """Replace ``media``'s text lines with ``result`` (or record ``error``)."""
    lines = result.lines if result is not None else []
    text = "\n".join(line.text for line in lines)
    with transaction.atomic():
        words = _locked_words(media)
        TextLine.objects.filter(media=media).delete()
        TextLine.objects.bulk_create(
            TextLine(
                media=media, n=i, text=line.text, x1=line.box[0], y1=line.box[1], x2=line.box[2], y2=line.box[3],
                quad=[list(p) for p in line.quad], confidence=line.confidence,
            )
            for i, line in enumerate(lines)
        )  # fmt: skip
        words.text = text
        words.doc = search_document(text)
        words.ocr_engine = engine_name()
        words.ocr_ms = round(result.ms, 1) if result is not None else None
        words.ocr_error = error[:2000]
        words.ocr_at = timezone.now()
        words.save()
    return words


def media_ocr(*, media: Media, image: Image.Image | None = None) -> MediaWords:
    """Read the text on one picture (an image or a video keyframe) and store it. A file
    that cannot be read is recorded as an error, not raised; OcrUnavailable (503) is
    raised when the OCR engine itself is missing."""
    from core.errors import DomainError

    from .ocr import OcrUnavailable

    try:
        img = image if image is not None else _open_picture(media, min_long=OCR_DECODE_LONG_SIDE)
        result = ocr_image(img)
    except OcrUnavailable:
        raise
    except (DomainError, OSError, ValueError) as exc:
        logger.warning("media %s: no OCR (%s)", media.pk, exc)
        return media_ocr_store(media=media, result=None, error=f"{type(exc).__name__}: {exc}")
    return media_ocr_store(media=media, result=result)


def media_labels_store(*, media: Media, modelzoo_name: str, labels: Sequence[tuple[int, float]], error: str = "") -> None:
    """Replace ``media``'s labels from ``modelzoo_name`` with ``labels`` ((class index,
    probability), most likely first), or record ``error``."""
    with transaction.atomic():
        words = _locked_words(media)
        MediaLabel.objects.filter(media=media, modelzoo_name=modelzoo_name).delete()
        MediaLabel.objects.bulk_create(
            MediaLabel(media=media, modelzoo_name=modelzoo_name, label_id=label_id, score=round(score, 6), rank=rank)
            for rank, (label_id, score) in enumerate(labels, start=1)
        )
        words.labels_model = modelzoo_name
        words.labels_error = error[:2000]
        words.labels_at = timezone.now()
        words.save()


def media_label(*, medias: Sequence[Media], classifier=None) -> int:
    """Label pictures with the top-k classes of ``settings.LABEL_MODEL`` (batched);
    returns how many were labelled. Files that cannot be decoded are recorded with
    their error. WeightsMissing (503) when the model's weights are not here."""
    from modelzoo.labels import get_classifier, top_k

    if not medias:
        return 0
    classifier = classifier or get_classifier()
    k = int(getattr(settings, "LABELS_TOP_K", 5))
    by_id = {m.pk: m for m in medias}

    def opener(media: Media):
        from django.core.files.storage import default_storage

        return lambda: default_storage.open(media.file.name, "rb")

    done = 0
    for batch in classifier.embed_files((m.pk, opener(m)) for m in medias):
        for media_id, probs in zip(batch.ids.tolist(), batch.vectors, strict=True):
            media_labels_store(media=by_id[media_id], modelzoo_name=classifier.spec.name, labels=top_k(probs, k))
            done += 1
        for media_id, reason in batch.failed:
            media_labels_store(media=by_id[media_id], modelzoo_name=classifier.spec.name, labels=[], error=reason)
    return done


def media_label_pooled(*, medias: Sequence[Media | None], pooled: np.ndarray) -> int:
    """Label pictures from the pooled features of the label model (``pooled``: their rows,
    in order, as ``Embedder.forward_pooled`` answers them; a None media is skipped);
    returns how many were labelled. WeightsMissing (503) without the model's weights."""
    from modelzoo.labels import get_classifier, top_k

    classifier = get_classifier()
    k = int(getattr(settings, "LABELS_TOP_K", 5))
    done = 0
    for media, probs in zip(medias, classifier.probabilities(pooled), strict=True):
        if media is not None:
            media_labels_store(media=media, modelzoo_name=classifier.spec.name, labels=top_k(probs, k))
            done += 1
    return done


# --- stored media, resumable ----------------------------------------------------------------------


def pictures_of(media: Media) -> list[Media]:
    """The pictures of a media: an image itself, a video's keyframes."""
    if media.media_type == MediaType.VIDEO:
        return list(media.frames.order_by("frame_number"))
    return [media]


def pending_ocr() -> QuerySet:
    """Pictures OCR has not run on (a failure counts as run), oldest first."""
    return Media.objects.filter(media_type__in=PICTURE_TYPES).filter(Q(words__isnull=True) | Q(words__ocr_at__isnull=True)).order_by("pk")


def pending_labels(modelzoo_name: str) -> QuerySet:
    """Pictures without labels from ``modelzoo_name``, oldest first."""
    return Media.objects.filter(media_type__in=PICTURE_TYPES).filter(Q(words__isnull=True) | ~Q(words__labels_model=modelzoo_name)).order_by("pk")


@dataclass
class WordsRun:
    """What one pass over stored media did."""

    ocr: int = 0
    labelled: int = 0
    ocr_ms: list[float] = field(default_factory=list)
    interrupted: bool = False

    def as_dict(self) -> dict:
        ms = sorted(self.ocr_ms)
        return {
            "ocr": self.ocr,
            "labelled": self.labelled,
            "ocr_ms_p50": round(ms[len(ms) // 2], 1) if ms else None,
            "interrupted": self.interrupted,
        }


def media_words_run(
    *,
    ocr: bool = True,
    labels: bool = True,
    media_ids: Iterable[int] | None = None,
    reporter: Reporter | None = None,
    stop: threading.Event | Callable[[], bool] | None = None,
    chunk: int = 32,
) -> WordsRun:
    """Read text (``ocr``) and label (``labels``) every stored picture still without
    them (or only ``media_ids``), oldest first, in chunks. Resumable: what is done is
    skipped next time, so a run stopped by a cancel or a crash continues where it was."""
    from modelzoo.labels import get_classifier, label_model_name

    report = as_reporter(reporter)
    should_stop = stop.is_set if isinstance(stop, threading.Event) else (stop or (lambda: False))
    run = WordsRun()
    classifier = get_classifier() if labels else None
    model = label_model_name()
    ocr_ids = list(pending_ocr().values_list("pk", flat=True)) if ocr else []
    label_ids = list(pending_labels(model).values_list("pk", flat=True)) if labels else []
    if media_ids is not None:
        wanted = set(media_ids)
        ocr_ids = [i for i in ocr_ids if i in wanted]
        label_ids = [i for i in label_ids if i in wanted]
    total = len(ocr_ids) + len(label_ids)
    done = 0
    report(0, total, "starting")
    for start in range(0, len(label_ids), chunk):
        if should_stop():
            run.interrupted = True
            return run
        medias = list(Media.objects.filter(pk__in=label_ids[start : start + chunk]).order_by("pk"))
        run.labelled += media_label(medias=medias, classifier=classifier)
        done += len(medias)
        report(done, total, f"labelled {run.labelled}")
    for media_id in ocr_ids:
        if should_stop():
            run.interrupted = True
            return run
        media = Media.objects.filter(pk=media_id).first()
        if media is None:
            continue  # deleted meanwhile
        t0 = time.perf_counter()
        media_ocr(media=media)
        run.ocr += 1
        run.ocr_ms.append((time.perf_counter() - t0) * 1000)
        done += 1
        report(done, total, f"read text on {run.ocr} of {len(ocr_ids)}")
    return run

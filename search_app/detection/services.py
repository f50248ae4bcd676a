"""Every write of stored detections: detection features, running one on media (at
ingest, through the media app's hook, and over the rest with ``manage.py build_index``).

Running is idempotent: a media a feature has looked at has a DetectionRun row and is not
run again, so a repeated ingest or an interrupted backfill leaves the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from core.errors import InvalidInput, NotFound
from core.progress import Reporter, as_reporter
from media_app.models import Media, MediaType
from modelzoo.registry import MODELS, DetectionModelSpec
from search_app.models import Detection, DetectionFeature, DetectionRun

logger = logging.getLogger(__name__)


def detection_feature_create(*, modelzoo_name: str, at_ingest: bool = True, min_score: float = 0.0) -> DetectionFeature:
    """Store the boxes of detection model ``modelzoo_name`` from now on (400 for a name
    that is not a detection model of the zoo, or a score outside 0..1)."""
    spec = MODELS.get(modelzoo_name)
    if not isinstance(spec, DetectionModelSpec):
        choices = ", ".join(n for n, m in MODELS.items() if isinstance(m, DetectionModelSpec))
        raise InvalidInput(f"No detection model called {modelzoo_name!r}; choose one of: {choices}.", fields={"modelzoo_name": ["Not a detection model."]})
    if not 0.0 <= float(min_score) <= 1.0:
        raise InvalidInput("min_score must be between 0 and 1.", fields={"min_score": ["Between 0 and 1."]})
    feature, _ = DetectionFeature.objects.get_or_create(modelzoo_name=modelzoo_name, defaults={"at_ingest": at_ingest, "min_score": min_score})
    return feature


def detection_feature_get(*, modelzoo_name: str) -> DetectionFeature:
    feature = DetectionFeature.objects.filter(modelzoo_name=modelzoo_name).first()
    if feature is None:
        raise NotFound(f"No detection feature for model {modelzoo_name!r}.", code="unknown_detection_feature")
    return feature


def _frames_of(media: Media) -> list[Media]:
    """What a detector looks at for a media: an image itself, a video's keyframes."""
    if media.media_type == MediaType.VIDEO:
        return list(Media.objects.filter(parent=media).order_by("frame_number"))
    return [media]


def media_detect(*, feature: DetectionFeature, media: Media, detector: Any = None) -> int:
    """Run ``feature``'s model on ``media`` (a video: on each keyframe) unless it has
    been already; store its boxes. Returns the number of boxes stored now."""
    from media_app.imaging import open_image
    from modelzoo.detection import get_detector

    stored = 0
    for item in _frames_of(media):
        if DetectionRun.objects.filter(feature=feature, media=item).exists():
            continue
        detector = detector or get_detector(feature.modelzoo_name)
        with default_storage.open(item.file.name, "rb") as fh:
            found = detector.detect(open_image(fh))
        rows = [
            Detection(
                feature=feature,
                media=item,
                label=d["label"][:200],
                label_id=d["label_id"],
                score=d["score"],
                x1=d["box"][0],
                y1=d["box"][1],
                x2=d["box"][2],
                y2=d["box"][3],
            )
            for d in found
            if d["score"] >= feature.min_score
        ]
        try:
            with transaction.atomic():
                DetectionRun.objects.create(feature=feature, media=item, count=len(rows))
                Detection.objects.bulk_create(rows)
        except IntegrityError:  # another process stored this media's run a moment ago
            continue
        stored += len(rows)
    return stored


def detections_on_ingest(*, media: Media) -> list[str]:
    """Run every ``at_ingest`` detection feature on an ingested media; one warning per
    feature that could not run (the ingest goes on)."""
    warnings = []
    for feature in DetectionFeature.objects.filter(at_ingest=True).order_by("pk"):
        try:
            media_detect(feature=feature, media=media)
        except Exception as exc:  # a detector that cannot run must not fail the import
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            warnings.append(f"detections of {feature.modelzoo_name} not stored: {message}")
            logger.warning("detections of %s on media %s: %s", feature.modelzoo_name, media.pk, message)
    return warnings


def detections_build(*, feature: DetectionFeature, rebuild: bool = False, reporter: Reporter | None = None) -> dict[str, int]:
    """Run ``feature`` on every image and keyframe it has not looked at (``rebuild``:
    forget what it stored and run on all). Raises before anything when the model cannot
    be loaded here."""
    from modelzoo.detection import get_detector

    detector = get_detector(feature.modelzoo_name)
    reporter = as_reporter(reporter)
    if rebuild:
        with transaction.atomic():
            Detection.objects.filter(feature=feature).delete()
            DetectionRun.objects.filter(feature=feature).delete()
    todo: Iterable[Media] = (
        Media.objects.exclude(media_type=MediaType.VIDEO).exclude(pk__in=DetectionRun.objects.filter(feature=feature).values("media_id")).order_by("pk")
    )
    ids = list(todo.values_list("pk", flat=True))
    total, boxes, failed = len(ids), 0, 0
    reporter(0, total, f"detecting with {feature.modelzoo_name}")
    for done, media in enumerate(Media.objects.filter(pk__in=ids).order_by("pk").iterator(), start=1):
        try:
            boxes += media_detect(feature=feature, media=media, detector=detector)
        except Exception as exc:  # one undecodable file must not end the run
            failed += 1
            logger.warning("detections of %s on media %s: %s", feature.modelzoo_name, media.pk, exc)
        reporter(done, total, f"{boxes} boxes")
    return {"media": total - failed, "failed": failed, "boxes": boxes}

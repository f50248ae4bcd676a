"""The text app's side of the media app's hooks: an ingest labels what it stores and,
when asked (``IngestOptions.ocr``: ``manage.py ingest --ocr``, the ingest_folder task's
``ocr``), reads its text. Registered by ``TextAppConfig.ready()``."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from core.errors import DomainError
from media_app import hooks as media_hooks

logger = logging.getLogger(__name__)


def on_ingest_media_stored(*, media: Any, options: Any) -> str | None:
    """Label a stored picture (a video: its keyframes) unless it already is, and read
    its text when the ingest asked for OCR. A picture is done once: a duplicate found
    again costs nothing. What fails is reported for the file, never raised (the
    media_words task can redo it)."""
    from modelzoo.labels import label_model_name

    from .models import MediaWords
    from .services import media_label, media_ocr, pictures_of

    pictures = pictures_of(media)
    if not pictures:
        return None
    done = {w.media_id: w for w in MediaWords.objects.filter(media_id__in=[p.pk for p in pictures])}
    problems: list[str] = []
    if getattr(settings, "LABELS_AT_INGEST", True):
        model = label_model_name()
        todo = [p for p in pictures if getattr(done.get(p.pk), "labels_model", "") != model]
        try:
            media_label(medias=todo)
        except DomainError as exc:  # no classifier weights here: labels wait for the task
            logger.info("not labelling at ingest: %s", exc.message)
    if getattr(options, "ocr", False):
        for picture in pictures:
            if getattr(done.get(picture.pk), "ocr_at", None) is not None:
                continue
            try:
                words = media_ocr(media=picture)
            except DomainError as exc:
                problems.append(f"no OCR: {exc.message}")
                break
            if words.ocr_error:
                problems.append(f"no OCR: {words.ocr_error}")
    return "; ".join(problems) or None


def register() -> None:
    media_hooks.ingest_media_stored.register(on_ingest_media_stored)

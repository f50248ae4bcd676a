"""The text app's side of the media app's hooks: an ingest labels what it stores and,
when asked (``IngestOptions.ocr``: ``manage.py ingest --ocr``, the ingest_folder task's
``ocr``), reads its text. Registered by ``TextAppConfig.ready()``.

A picture the ingest's embedding pass runs through the label model is labelled from
that pass's pooled features (``on_ingest_pooled_ready``: the classifier head only);
any other (a duplicate found again, a video's keyframes, another model embedding) is
decoded and classified here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from core.errors import DomainError
from media_app import hooks as media_hooks
from media_app.models import Media

logger = logging.getLogger(__name__)


def on_ingest_media_stored(*, media: Any, options: Any, pooled_models: frozenset[str] = frozenset(), **_: Any) -> str | None:
    """Label a stored picture (a video: its keyframes) unless it already is or the
    ingest's embedding pass will (``pooled_models`` names the label model), and read
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
    model = label_model_name()
    if getattr(settings, "LABELS_AT_INGEST", True) and model not in pooled_models:
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


def on_ingest_pooled_ready(*, modelzoo_name: str, media_ids: Sequence[int], pooled: Any, **_: Any) -> int:
    """Label pictures an ingest ran through the label model: from their pooled features,
    or (``pooled`` None: the pass could not) from their files. Returns how many."""
    from modelzoo.labels import label_model_name

    from .services import media_label, media_label_pooled

    if not getattr(settings, "LABELS_AT_INGEST", True) or modelzoo_name != label_model_name():
        return 0
    by_id = Media.objects.in_bulk(list(media_ids))  # one deleted meanwhile is left out
    try:
        if pooled is None:
            return media_label(medias=[by_id[i] for i in media_ids if i in by_id])
        return media_label_pooled(medias=[by_id.get(i) for i in media_ids], pooled=pooled)
    except DomainError as exc:  # no classifier weights here: labels wait for the task
        logger.info("not labelling at ingest: %s", exc.message)
        return 0


def register() -> None:
    media_hooks.ingest_media_stored.register(on_ingest_media_stored)
    media_hooks.ingest_pooled_ready.register(on_ingest_pooled_ready)

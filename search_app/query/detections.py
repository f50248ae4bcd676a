"""Object detections on a query's image, while a detection model is selected.

The model is chosen with ``search/load_detection_model/<key>/`` (stored in
SearchDefaults, so every process follows). Results are cached by image hash and model,
so paging through a search does not run the detector again.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache

from core.errors import ServiceUnavailable
from search_app.query.sources import QuerySource
from search_app.selectors import detection_model_selected

logger = logging.getLogger(__name__)

# How long detections of one image under one model stay cached, in seconds.
CACHE_SECONDS = 3600


def query_detections(*, source: QuerySource, model: str | None = None) -> dict[str, Any] | None:
    """``{"model": key, "items": [...]}`` for the query image, ``items`` empty when the
    query has no single image (a whole video); None while no detection model is selected.
    ``model``: the selected detection model when the caller has read it already."""
    if model is None:
        model = detection_model_selected()
    if not model:
        return None
    image = source.image()
    if image is None:
        return {"model": model, "items": []}
    key = f"vframe:detections:{model}:{image.sha256}"
    items = _cache_call(cache.get, key)
    if items is None:
        from django.core.files.storage import default_storage

        from media_app.imaging import open_image
        from modelzoo.detection import get_detector

        try:
            detector = get_detector(model)
        except Exception as exc:
            raise ServiceUnavailable(f"Detection model {model!r} cannot be loaded: {exc}", code="detector_unavailable") from None
        with default_storage.open(image.file.name, "rb") as fh:
            img = open_image(fh)
            items = detector.detect(img)
        _cache_call(cache.set, key, items, CACHE_SECONDS)
    return {"model": model, "items": items}


def _cache_call(method, *args):
    """A cache read or write that an unreachable cache (Redis down) turns into a miss:
    the cache saves detector runs, and search must work without Redis."""
    try:
        return method(*args)
    except Exception as exc:
        if not (isinstance(exc, OSError) or type(exc).__module__.split(".")[0] == "redis"):
            raise
        logger.warning("detections cache unreachable (%s); running without it", exc)
        return None

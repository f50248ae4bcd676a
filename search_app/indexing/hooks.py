"""The search app's side of the media app's hooks: deleted media leave every index,
vectors an ingest computed from its own decode go into the vector stores, an ingested
media gets the boxes of the detection features that run at ingest, and an ingest ends
with an incremental index update. Registered by ``SearchAppConfig.ready()``."""

from __future__ import annotations

from typing import Any

from media_app import hooks
from search_app.indexing import build, regions
from search_app.models import Feature


def on_media_deleted(*, media_ids: list[int], **_: Any) -> None:
    build.feature_forget_media(media_ids=media_ids)


def on_ingest_vectors(*, feature: Feature, ids: Any, vectors: Any, modelzoo_name: str) -> int:
    return build.feature_add_vectors(feature=feature, ids=ids, vectors=vectors, modelzoo_name=modelzoo_name)


def on_ingest_region_vectors(*, feature: Feature, media_ids: Any, numbers: Any, vectors: Any, modelzoo_name: str) -> int:
    return regions.feature_add_region_vectors(feature=feature, media_ids=media_ids, numbers=numbers, vectors=vectors, modelzoo_name=modelzoo_name)


def on_ingest_index(*, features: list[Feature] | None, reporter: Any = None) -> list[Any]:
    if features is None:
        features = list(Feature.objects.filter(active=True).order_by("pk"))
    return [build.feature_update_index(feature=feature, reporter=reporter) for feature in features]


def on_ingest_media_stored(*, media: Any, options: Any, **_: Any) -> str | None:
    from search_app.detection.services import detections_on_ingest

    return "; ".join(detections_on_ingest(media=media)) or None


def info_counts() -> dict[str, int]:
    return {"features": Feature.objects.count()}


def register() -> None:
    hooks.media_deleted.register(on_media_deleted)
    hooks.ingest_vectors_ready.register(on_ingest_vectors)
    hooks.ingest_region_vectors_ready.register(on_ingest_region_vectors)
    hooks.ingest_index.register(on_ingest_index)
    hooks.ingest_media_stored.register(on_ingest_media_stored)
    hooks.info_counts.register(info_counts)

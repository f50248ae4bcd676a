"""Reads of Features and their on-disk state."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound
from modelzoo.registry import MODELS
from search_app.indexing.index import feature_dir, read_meta, vector_store
from search_app.models import Feature


def feature_list() -> QuerySet[Feature]:
    return Feature.objects.all()


def feature_active_list() -> QuerySet[Feature]:
    """Features the ingest command embeds into by default."""
    return Feature.objects.filter(active=True).order_by("pk")


def feature_get(*, feature_id: int) -> Feature:
    feature = Feature.objects.filter(pk=feature_id).first()
    if feature is None:
        raise NotFound(f"No feature with id {feature_id}.")
    return feature


def feature_storage_info(*, feature: Feature) -> dict:
    """Vectors stored on disk and the current index version's metadata (admin, info)."""
    spec = MODELS.get(feature.modelzoo_name)
    store = vector_store(feature.pk, getattr(spec, "embedding_dim", 0))
    meta = read_meta(feature_dir(feature.pk), feature.index_version) if feature.index_version else None
    return {"vectors": store.stats(), "index": meta}

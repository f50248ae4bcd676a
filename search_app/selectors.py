"""Reads of Features and their on-disk state, and of the search settings every process
shares (SearchDefaults: the default feature, the detection model)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from core.errors import Conflict, NotFound
from modelzoo.embedding import embedder_loaded
from modelzoo.registry import MODELS
from search_app.indexing import engine
from search_app.indexing.index import read_meta
from search_app.indexing.layout import feature_dir, vector_store
from search_app.models import Feature, FeatureStatus, SearchDefaults


def feature_list() -> QuerySet[Feature]:
    return Feature.objects.all()


def feature_active_list() -> QuerySet[Feature]:
    """Features the ingest command embeds into by default."""
    return Feature.objects.filter(active=True).order_by("pk")


def feature_get(*, feature_id: int) -> Feature:
    """One feature by id; NotFound (404) naming the id when there is none."""
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


# --- which feature answers a search -----------------------------------------------------------


def _search_defaults() -> SearchDefaults | None:
    return SearchDefaults.objects.filter(pk=1).select_related("default_feature").first()


def _default_feature(defaults: SearchDefaults | None) -> Feature | None:
    """The stored default feature, else the newest ready active one."""
    if defaults is not None and defaults.default_feature_id:
        return defaults.default_feature
    return Feature.objects.filter(active=True, index_version__gt=0).order_by("-built_at", "-pk").first()


def search_model_loaded() -> bool | None:
    """Whether this process has the default feature's model in memory (None: no feature
    is ready): a page says "loading the model" rather than only "searching"."""
    feature = _default_feature(_search_defaults())
    return None if feature is None else embedder_loaded(feature.modelzoo_name)


def _feature_sql(*, by_id: bool) -> str:
    """The SQL of feature_for_search's one query. Written out, not built by the ORM: it
    runs on every search, and compiling the equivalent queryset (two subqueries and a
    coalesce) cost about 2 ms against 0.05 ms for running it."""
    qn = connection.ops.quote_name
    feature, defaults = qn(Feature._meta.db_table), qn(SearchDefaults._meta.db_table)
    detection = f"(SELECT d.detection_model FROM {defaults} d WHERE d.id = 1) AS search_detection_model"
    if by_id:
        which = "%s"
    else:
        # The stored default, else the newest ready active feature (_default_feature).
        newest = f"SELECT n.id FROM {feature} n WHERE n.active AND n.index_version > 0 ORDER BY n.built_at DESC, n.id DESC LIMIT 1"
        which = f"COALESCE((SELECT d.default_feature_id FROM {defaults} d WHERE d.id = 1), ({newest}))"
    return f"SELECT f.*, {detection} FROM {feature} f WHERE f.id = {which}"


def feature_for_search(*, feature_id: int | None = None) -> Feature:
    """The feature named by the request, else the stored default, else the newest
    ready active feature. Errors say what is wrong (404 unknown, 409 not searchable).

    The selected detection model comes with it as ``feature.search_detection_model``
    ("" while none is), read in the same query: a search needs both.
    """
    by_id = feature_id is not None
    feature = next(iter(Feature.objects.raw(_feature_sql(by_id=by_id), [feature_id] if by_id else [])), None)
    if feature is None:
        if feature_id is not None:
            raise NotFound(f"No feature with id {feature_id}.")
        raise Conflict("No feature is ready to search. Create one (POST /api/v1/feature/) and wait for its index to build.", code="no_feature")
    feature.search_detection_model = feature.search_detection_model or ""
    check_searchable(feature)
    return feature


def check_searchable(feature: Feature) -> None:
    """Conflict (409, ``code`` saying why) unless ``feature`` has a non-empty index."""
    if feature.index_version == 0:
        if feature.status == FeatureStatus.FAILED:
            raise Conflict(f"Feature {feature.pk}'s index build failed: {feature.error or 'unknown error'}", code="index_failed")
        raise Conflict(f"Feature {feature.pk}'s index is still {feature.status}; try again when it is ready.", code="index_not_ready")
    if feature.item_count == 0:
        raise Conflict(f"Feature {feature.pk}'s index is empty: ingest media first.", code="index_empty")


def detection_model_selected() -> str:
    """The key of the detection model run on query images, or "" while none is."""
    return SearchDefaults.objects.filter(pk=1).values_list("detection_model", flat=True).first() or ""


# --- search/info ---------------------------------------------------------------------------------


def describe_loaded() -> list[dict[str, Any]]:
    """The indexes this process holds in memory."""
    return [
        {
            "feature_id": fid,
            "version": idx.version,
            "index_type": idx.index_type,
            "count": idx.count,
            "dim": idx.dim,
            "params": idx.params,
            "memory_bytes": idx.memory_bytes,
        }
        for fid, idx in engine.loaded_indexes().items()
    ]


def search_info() -> dict[str, Any]:
    """The default feature, its model and index, the detection model, and what this
    process holds in memory."""
    import resource

    defaults = _search_defaults()
    feature = _default_feature(defaults)
    model = None
    if feature is not None:
        spec = MODELS.get(feature.modelzoo_name)
        model = {
            "name": feature.modelzoo_name,
            "architecture": getattr(spec, "architecture", None),
            "embedding_dim": getattr(spec, "embedding_dim", None),
            "random_weights": getattr(spec, "random_weights", None),
            # False until this process has loaded it: the next search waits for the load.
            "loaded": embedder_loaded(feature.modelzoo_name),
        }
    return {
        "default_feature": None
        if feature is None
        else {
            "id": feature.pk,
            "modelzoo_name": feature.modelzoo_name,
            "index_type": feature.index_type,
            "index_params": feature.index_params,
            "status": feature.status,
            "item_count": feature.item_count,
            "index_version": feature.index_version,
            "explicit": bool(defaults and defaults.default_feature_id),
        },
        "model": model,
        "detection_model": (defaults.detection_model or None) if defaults else None,
        "loaded": describe_loaded(),
        "process_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }

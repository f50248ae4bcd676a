"""Every write to Features: create, change, delete, schedule their index builds, and
forget deleted media; and the search settings every process shares (SearchDefaults:
the default feature, the detection model). The build itself is
``search_app.indexing.build``.

The API, the admin, the Celery tasks and the ingest command all call these.
"""

from __future__ import annotations

import logging
import shutil
import threading
from typing import Any

from django.db import transaction

from core.errors import Conflict, InvalidInput, ServiceUnavailable
from modelzoo.registry import MODELS, EmbeddingModelSpec, random_weights_allowed
from modelzoo.weights import resolve_weights
from search_app.indexing import backends, engine, sharing
from search_app.indexing.build import feature_forget_media, feature_schedule_build  # noqa: F401 (callers of the feature writes find them here)
from search_app.indexing.index import validate_index_params, validate_index_type
from search_app.indexing.layout import feature_dir, vector_store
from search_app.models import Feature, FeatureStatus, SearchDefaults
from search_app.selectors import check_searchable, feature_get

logger = logging.getLogger(__name__)

UPDATABLE_FIELDS = frozenset({"active", "username", "user", "index_type", "index_params", "modelzoo_name"})


# --- create / update / delete ---------------------------------------------------------------------


def validate_embedding_model(name: Any) -> EmbeddingModelSpec:
    """The model zoo entry for a feature, or InvalidInput (400) naming the field.

    Missing weights raise WeightsMissing (503): the request was fine, the machine lacks
    a file, and the message says how to provide it.
    """
    spec = MODELS.get(name) if isinstance(name, str) else None
    if spec is None or not isinstance(spec, EmbeddingModelSpec):
        choices = ", ".join(n for n, m in MODELS.items() if isinstance(m, EmbeddingModelSpec) and (random_weights_allowed() or not m.random_weights))
        raise InvalidInput(f"Unknown embedding model {name!r}.", fields={"modelzoo_name": [f"Unknown embedding model; choose one of: {choices}."]})
    if spec.random_weights and not random_weights_allowed():
        raise InvalidInput(
            f"Model {name!r} has random weights, which are disabled here.",
            code="random_weights_disabled",
            fields={"modelzoo_name": ["Random-weight models are for tests; set VFRAME_ALLOW_RANDOM_WEIGHTS=1 to use them."]},
        )
    resolve_weights(spec)
    return spec


def feature_create(
    *,
    modelzoo_name: str,
    index_type: str = "hnsw",
    index_params: dict | None = None,
    active: bool = True,
    user=None,
    username: str = "",
) -> Feature:
    """Create a feature and schedule its first build once the row is committed."""
    validate_embedding_model(modelzoo_name)
    validate_index_type(index_type)
    params = validate_index_params(index_params)
    with transaction.atomic():
        feature = Feature.objects.create(
            modelzoo_name=modelzoo_name,
            index_type=index_type,
            index_params=params,
            active=bool(active),
            user=user if getattr(user, "is_authenticated", False) else None,
            username=username or getattr(user, "username", "") or "",
        )
        feature_schedule_build(feature=feature)
    return feature


def feature_update(*, feature: Feature, **fields: Any) -> Feature:
    """Change a feature. Index type or parameters: the index is rebuilt from the stored
    vectors (no model run). The model of a feature that already has vectors or is
    building cannot change (409): its vectors would mix two models; create a new one."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise InvalidInput(f"Cannot update {', '.join(sorted(unknown))}.", fields={k: ["Not an updatable field."] for k in sorted(unknown)})
    with transaction.atomic():
        feature = Feature.objects.select_for_update().get(pk=feature.pk)
        changed: list[str] = []
        rebuild = False
        if "modelzoo_name" in fields and fields["modelzoo_name"] != feature.modelzoo_name:
            spec = MODELS.get(feature.modelzoo_name)
            has_vectors = vector_store(feature.pk, getattr(spec, "embedding_dim", 0)).ids().size > 0
            if feature.has_index or has_vectors or feature.status == FeatureStatus.BUILDING:
                raise Conflict(
                    f"Feature {feature.pk} already holds vectors of {feature.modelzoo_name!r}; create a new feature for {fields['modelzoo_name']!r}.",
                    code="model_change_conflict",
                    fields={"modelzoo_name": ["Cannot change the model of a feature that has been built; create a new feature instead."]},
                )
            validate_embedding_model(fields["modelzoo_name"])
            feature.modelzoo_name = fields["modelzoo_name"]
            changed.append("modelzoo_name")
            rebuild = True
        if "index_type" in fields and fields["index_type"] != feature.index_type:
            feature.index_type = validate_index_type(fields["index_type"])
            changed.append("index_type")
            rebuild = True
        if "index_params" in fields:
            params = validate_index_params({**(feature.index_params or {}), **(fields["index_params"] or {})})
            if params != feature.index_params:
                feature.index_params = params
                changed.append("index_params")
                rebuild = True
        if "active" in fields and bool(fields["active"]) != feature.active:
            feature.active = bool(fields["active"])
            changed.append("active")
        if "username" in fields and fields["username"] is not None and fields["username"] != feature.username:
            feature.username = fields["username"]
            changed.append("username")
        if "user" in fields:
            feature.user = fields["user"]
            changed.append("user")
        if rebuild and feature.status != FeatureStatus.BUILDING:
            feature.status = FeatureStatus.PENDING
            changed.append("status")
        if changed:
            feature.save(update_fields=[*changed, "updated_at"])
        if rebuild:
            feature_schedule_build(feature=feature)
    return feature


def feature_delete(*, feature: Feature) -> None:
    """Delete a feature, then (after commit) its vectors, index files and Milvus
    collections.

    A build still running notices at its next heartbeat and stops.
    """
    pk, index_type, collection = feature.pk, feature.index_type, feature.milvus_collection
    with transaction.atomic():
        feature.delete()
        transaction.on_commit(lambda: shutil.rmtree(feature_dir(pk), ignore_errors=True))
        transaction.on_commit(lambda: sharing.delete_feature(pk))
        transaction.on_commit(lambda: backends.drop_feature(feature_id=pk, index_type=index_type, milvus_collection=collection))


def feature_load(*, feature_id: int, user=None) -> Feature:
    """Make ``feature_id`` the default for every process (stored in the database) and
    load it in this one."""
    feature = feature_get(feature_id=feature_id)
    check_searchable(feature)
    engine.get_index(feature, wait_for_new=True)
    health = backends.serving_backend(feature).health(feature)
    if not health["ok"]:  # a Milvus that does not answer is no default for everyone
        raise ServiceUnavailable(f"Feature {feature.pk}'s index cannot answer: {health['reason']}", code="index_unavailable")
    SearchDefaults.objects.update_or_create(pk=1, defaults={"default_feature": feature, "updated_by": getattr(user, "username", "") or ""})
    return feature


# Reserved key of search/load_detection_model/<key>/ that turns detections off again.
DETECTION_OFF = "none"


def detection_model_load(*, key: str, user=None) -> str:
    """Select the detection model used for query images (stored, shared by all
    processes) and load it in this one; ``none`` turns detections off."""
    from modelzoo.detection import get_detector

    if key != DETECTION_OFF:
        get_detector(key)
    stored = "" if key == DETECTION_OFF else key
    SearchDefaults.objects.update_or_create(pk=1, defaults={"detection_model": stored, "updated_by": getattr(user, "username", "") or ""})
    return key


_warming = threading.Lock()
_warm_started = False


def search_warm(*, background: bool = True) -> bool:
    """Load the default feature's index, its model and the stored pictures' hashes
    (query.hashes) into this process, so the first search after start-up does not wait
    for them (seconds for a real model). Once per process;
    returns whether this call started it. In a background thread by default: a server
    answers while it loads, and ``search/info/`` says whether the model is in memory."""
    global _warm_started
    with _warming:
        if _warm_started:
            return False
        _warm_started = True

    def warm() -> None:
        from modelzoo.embedding import get_embedder
        from search_app.query import hashes
        from search_app.selectors import feature_for_search

        try:
            feature = feature_for_search()
            engine.get_index(feature)
            get_embedder(feature.modelzoo_name)
            hashes.warm()
            logger.info("search warmed: feature %s, model %s", feature.pk, feature.modelzoo_name)
        except Exception as exc:  # nothing to warm yet, or it fails as the first search would
            logger.info("search not warmed: %s", exc)

    def in_thread() -> None:
        from django.db import connections

        try:
            warm()
        finally:
            connections.close_all()  # this thread's own

    if background:
        threading.Thread(target=in_thread, name="search-warm", daemon=True).start()
    else:
        warm()
    return True

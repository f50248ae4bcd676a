"""Every write to Features: create, change, delete, schedule their index builds, and
forget deleted media. The build itself is ``search_app.indexing.build``.

The API, the admin, the Celery tasks and the ingest command all call these.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db import transaction

from core.errors import Conflict, InvalidInput
from modelzoo.registry import MODELS, EmbeddingModelSpec, random_weights_allowed
from modelzoo.weights import resolve_weights
from search_app.indexing import sharing
from search_app.indexing.index import feature_dir, validate_index_params, validate_index_type, vector_store
from search_app.models import Feature, FeatureStatus
from tasks_app.queue import enqueue

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


def feature_schedule_build(*, feature: Feature, full: bool = False) -> None:
    """Start ``build_index`` after the current transaction commits.

    If a build of this feature is running, the new task's claim fails and asks the
    running build to go round once more, so nothing is lost and nothing runs twice.
    With the task queue unreachable (Redis down) the write that asked for the build
    stands: a running build is asked to go round instead, else the feature is marked
    failed with the reason, so nobody waits for a build that never starts.
    """
    pk = feature.pk
    transaction.on_commit(lambda: _start_build(pk, full))


def _start_build(pk: int, full: bool) -> None:
    from search_app.tasks import build_index
    from tasks_app.broker import is_broker_error

    try:
        enqueue(build_index, pk, full=full)
    except Exception as exc:
        if not is_broker_error(exc):
            raise
        logger.warning("feature %s: could not start its index build", pk, exc_info=True)
        if not Feature.objects.filter(pk=pk, status=FeatureStatus.BUILDING).update(build_requested=True):
            Feature.objects.filter(pk=pk).update(
                status=FeatureStatus.FAILED,
                error=f"The index build could not be started: the task queue is unreachable ({type(exc).__name__}: {exc}). Run the build again once it is back.",
            )


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
    """Delete a feature, then (after commit) its vectors and index files.

    A build still running notices at its next heartbeat and stops.
    """
    pk = feature.pk
    with transaction.atomic():
        feature.delete()
        transaction.on_commit(lambda: shutil.rmtree(feature_dir(pk), ignore_errors=True))
        transaction.on_commit(lambda: sharing.delete_feature(pk))


def feature_forget_media(*, media_ids: Iterable[int]) -> None:
    """Remove deleted media from every feature's vectors and indexes.

    The ids go into each feature's deletion set at once (an index loaded from now on
    leaves them out) and a build is scheduled to mark them deleted in a new index
    version, so searchers holding the old version swap it out.
    """
    ids = np.unique(np.fromiter((int(i) for i in media_ids), dtype=np.int64))
    if ids.size == 0:
        return
    for feature in Feature.objects.only("pk", "modelzoo_name"):
        spec = MODELS.get(feature.modelzoo_name)
        store = vector_store(feature.pk, getattr(spec, "embedding_dim", 0))
        if not store.exists():
            continue
        # Recorded even for ids without a vector yet: a build embedding them right now
        # will have them dropped.
        store.add_deleted(ids)
        if np.intersect1d(ids, store.ids(), assume_unique=True).size:
            feature_schedule_build(feature=feature)

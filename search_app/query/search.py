"""Similarity search: resolve the query, rank with the feature's index, page exactly.

One entry point, :func:`search_run`, serves every route (media, sha256, upload, random)
so they page, filter and score alike. Scores are cosine similarities (higher is
closer) taken from the same k-NN answer as the ids, so a score always belongs to its
own item.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db import IntegrityError, transaction

from core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from media_app.models import Media, MediaType, Upload
from search_app.hooks import collection_members
from search_app.indexing import engine
from search_app.indexing.index import LoadedIndex
from search_app.models import Feature, FeatureStatus, QueryVector, SearchDefaults
from search_app.query.ranking import Candidate, MediaFacts, select_page, stable_candidates
from search_app.selectors import feature_get

logger = logging.getLogger(__name__)

# Deepest result reachable by paging (offset + limit).
MAX_DEPTH = 4096


@dataclass
class SearchQuery:
    """What to search with: a media in the collection, an upload, or both unknown."""

    kind: str  # "media" | "upload"
    media: Media | None = None
    upload: Upload | None = None
    seed: str | None = None
    sha256: str | None = None


@dataclass
class SearchOptions:
    offset: int = 0
    limit: int = 30
    include_self: bool = False
    media_type: str | None = None
    collection_id: int | None = None
    min_score: float | None = None
    group_video: bool = False
    feature_id: int | None = None
    # Region search: (x1, y1, x2, y2) normalised to the upright query image.
    box: tuple[float, float, float, float] | None = None


@dataclass
class SearchOutcome:
    feature: Feature
    index: LoadedIndex
    query: SearchQuery
    hits: list[Candidate]
    media: dict[int, Media]
    timing_ms: dict[str, float] = field(default_factory=dict)
    detections: dict | None = None
    exhausted: bool = False


# --- which feature answers --------------------------------------------------------------------


def search_defaults() -> SearchDefaults:
    obj, _ = SearchDefaults.objects.get_or_create(pk=1)
    return obj


def feature_for_search(feature_id: int | None) -> Feature:
    """The feature named by the request, else the stored default, else the newest
    ready active feature. Errors say what is wrong (404 unknown, 409 not searchable)."""
    if feature_id is not None:
        feature = feature_get(feature_id=feature_id)
    else:
        defaults = SearchDefaults.objects.filter(pk=1).select_related("default_feature").first()
        feature = defaults.default_feature if defaults and defaults.default_feature_id else None
        if feature is None:
            feature = Feature.objects.filter(active=True, index_version__gt=0).order_by("-built_at", "-pk").first()
        if feature is None:
            raise Conflict("No feature is ready to search. Create one (POST /api/v1/feature/) and wait for its index to build.", code="no_feature")
    check_searchable(feature)
    return feature


def check_searchable(feature: Feature) -> None:
    if feature.index_version == 0:
        if feature.status == FeatureStatus.FAILED:
            raise Conflict(f"Feature {feature.pk}'s index build failed: {feature.error or 'unknown error'}", code="index_failed")
        raise Conflict(f"Feature {feature.pk}'s index is still {feature.status}; try again when it is ready.", code="index_not_ready")
    if feature.item_count == 0:
        raise Conflict(f"Feature {feature.pk}'s index is empty: ingest media first.", code="index_empty")


def feature_load(*, feature_id: int, user=None) -> Feature:
    """Make ``feature_id`` the default for every process (stored in the database) and
    load it in this one."""
    feature = feature_get(feature_id=feature_id)
    check_searchable(feature)
    engine.get_index(feature, wait_for_new=True)
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


# --- query vectors --------------------------------------------------------------------------


def _embedder(feature: Feature):
    from modelzoo.embedding import get_embedder

    return get_embedder(feature.modelzoo_name)


def _embed_stored_file(feature: Feature, name: str) -> np.ndarray:
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    return _embedder(feature).embed_image(data).astype(np.float32)


def media_vector(feature: Feature, index: LoadedIndex, media: Media) -> np.ndarray:
    """The query vector of a media: the stored one when indexed, else computed now
    (a video is represented by the mean of its indexed frames)."""
    if media.media_type == MediaType.VIDEO:
        frame_ids = [i for i in media.frames.values_list("pk", flat=True) if i in index]
        if not frame_ids:
            raise Conflict(f"Video {media.pk} has no indexed frames in feature {feature.pk}; search one of its frames.", code="not_indexed")
        vec = index.get_vectors(frame_ids).mean(axis=0)
        return (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32)
    if media.pk in index:
        return index.get_vectors([media.pk])[0]
    return _embed_stored_file(feature, media.file.name)


def upload_vector(feature: Feature, upload: Upload) -> np.ndarray:
    """Embed an upload once per model and keep the vector: repeating the query costs
    only the index lookup."""
    row = QueryVector.objects.filter(upload=upload, modelzoo_name=feature.modelzoo_name).first()
    if row is not None:
        return np.frombuffer(bytes(row.vector), dtype=np.float32)
    vec = _embed_stored_file(feature, upload.file.name)
    try:
        with transaction.atomic():
            QueryVector.objects.create(upload=upload, modelzoo_name=feature.modelzoo_name, vector=vec.astype(np.float32).tobytes())
    except IntegrityError:
        pass  # a concurrent request stored it first; same model, same vector
    return vec


def box_key(box: tuple[float, float, float, float]) -> str:
    """The cache key of a box: 4 decimals, as the API rounds it."""
    return ",".join(f"{v:.4f}" for v in box)


def region_vector(feature: Feature, query: SearchQuery, box: tuple[float, float, float, float]) -> np.ndarray:
    """Embed the crop ``box`` of the upright query image once per model and keep it
    (RegionVector, keyed by sha256), like an upload's vector. A video has no single
    image to crop: search one of its frames instead (400 naming ``box``)."""
    from django.core.files.storage import default_storage

    from core.images import to_rgb
    from media_app.imaging import open_image
    from search_app.models import RegionVector

    target = query.media if query.kind == "media" else query.upload
    if target is None or (query.kind == "media" and target.media_type == MediaType.VIDEO):
        raise InvalidInput(
            "A region can be searched on an image or a video frame, not on a whole video.",
            fields={"box": ["Search one of the video's frames with a box instead."]},
        )
    key = box_key(box)
    row = RegionVector.objects.filter(sha256=target.sha256, modelzoo_name=feature.modelzoo_name, box=key).first()
    if row is not None:
        return np.frombuffer(bytes(row.vector), dtype=np.float32)
    with default_storage.open(target.file.name, "rb") as fh:
        img = to_rgb(open_image(fh))  # EXIF-upright, as the page shows it
    width, height = img.size
    x1, y1, x2, y2 = box
    pixels = (round(x1 * width), round(y1 * height), round(x2 * width), round(y2 * height))
    if pixels[2] - pixels[0] < 2 or pixels[3] - pixels[1] < 2:
        raise InvalidInput(f"The region is smaller than 2 pixels on this {width}x{height} image.", fields={"box": ["Region too small for this image."]})
    vec = _embedder(feature).embed_image(img.crop(pixels)).astype(np.float32)
    try:
        with transaction.atomic():
            RegionVector.objects.create(sha256=target.sha256, modelzoo_name=feature.modelzoo_name, box=key, vector=vec.tobytes())
    except IntegrityError:
        pass  # a concurrent request stored it first; same crop, same model, same vector
    return vec


# --- resolving queries ----------------------------------------------------------------------


def query_for_sha256(sha256: str) -> SearchQuery:
    sha256 = sha256.strip().lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise InvalidInput("sha256 must be 64 hexadecimal characters.", fields={"sha256": ["Not a sha256 hex digest."]})
    media = Media.objects.filter(sha256=sha256).first()
    if media is not None:
        return SearchQuery(kind="media", media=media, sha256=sha256)
    upload = Upload.objects.filter(sha256=sha256).first()
    if upload is not None:
        return SearchQuery(kind="upload", upload=upload, sha256=sha256)
    raise NotFound(f"No media or upload with sha256 {sha256}.")


def query_for_random(feature: Feature, index: LoadedIndex, seed: str) -> SearchQuery:
    """The same seed picks the same query item for the same data, so a URL can be
    shared: a hash of the seed indexes the sorted ids of the loaded index."""
    ids = np.setdiff1d(index.ids, index.excluded, assume_unique=True)
    if ids.size == 0:
        raise Conflict("The index is empty.", code="index_empty")
    digest = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "big")
    for step in range(min(ids.size, 16)):
        media = Media.objects.filter(pk=int(ids[(digest + step) % ids.size])).first()
        if media is not None:
            return SearchQuery(kind="media", media=media, seed=seed)
    raise Conflict("The index refers to media that no longer exist; rebuild it.", code="index_stale")


# --- running --------------------------------------------------------------------------------


def _facts(ids: list[int]) -> dict[int, MediaFacts]:
    rows = Media.objects.filter(pk__in=ids).values_list("pk", "media_type", "parent_id")
    return {pk: MediaFacts(media_type=mt, parent_id=parent) for pk, mt, parent in rows}


def _self_ids(query: SearchQuery) -> set[int]:
    if query.kind != "media" or query.media is None:
        return set()
    if query.media.media_type == MediaType.VIDEO:
        return set(query.media.frames.values_list("pk", flat=True)) | {query.media.pk}
    return {query.media.pk}


def search_run(*, query: SearchQuery | None, options: SearchOptions, seed: str | None = None) -> SearchOutcome:
    """Rank the collection against the query and return one exact page."""
    t0 = time.perf_counter()
    feature = feature_for_search(options.feature_id)
    index = engine.get_index(feature)
    t_load = time.perf_counter()
    if index.count == 0:
        raise Conflict(f"Feature {feature.pk}'s index is empty: ingest media first.", code="index_empty")
    if seed is not None:
        query = query_for_random(feature, index, seed)
    assert query is not None

    if options.box is not None:
        vector = region_vector(feature, query, options.box)
    elif query.kind == "media":
        vector = media_vector(feature, index, query.media)
    else:
        vector = upload_vector(feature, query.upload)
    t_vec = time.perf_counter()

    exclude = set() if options.include_self else _self_ids(query)
    in_collection = None
    if options.collection_id is not None:
        members = collection_members(options.collection_id)
        if members is None:
            raise InvalidInput(f"No collection with id {options.collection_id}.", fields={"collection": ["No such collection."]})
        in_collection = set(members)
    need = options.offset + options.limit

    def knn(k: int, ef: int):
        return index.search(vector, k, ef=ef)

    kept: list[Candidate] = []
    depth = need + len(exclude)
    knn_ms = 0.0
    facts: dict[int, MediaFacts] = {}
    exhausted = False
    while True:
        tk = time.perf_counter()
        candidates = stable_candidates(knn, depth=depth, index_count=index.count, ef_floor=index.ef)
        knn_ms += (time.perf_counter() - tk) * 1000
        missing = [c.media_id for c in candidates if c.media_id not in facts]
        if missing:
            facts.update(_facts(missing))
        kept = select_page(
            candidates,
            facts=facts,
            exclude_ids=exclude,
            media_type=options.media_type,
            in_collection=in_collection,
            min_score=options.min_score,
            group_video=options.group_video,
        )
        if len(kept) >= need or len(candidates) >= index.count or depth >= MAX_DEPTH:
            exhausted = len(kept) < need
            break
        depth = min(MAX_DEPTH, depth * 4)
    page = kept[options.offset : need]
    t_rank = time.perf_counter()

    media = {m.pk: m for m in _result_media([c.media_id for c in page])}
    detections = _detections(query)
    t_end = time.perf_counter()
    return SearchOutcome(
        feature=feature,
        index=index,
        query=query,
        hits=page,
        media=media,
        exhausted=exhausted,
        detections=detections,
        timing_ms={
            "total": round((t_end - t0) * 1000, 2),
            "index_load": round((t_load - t0) * 1000, 2),
            "query_vector": round((t_vec - t_load) * 1000, 2),
            "knn": round(knn_ms, 2),
            "rank": round((t_rank - t_vec) * 1000, 2),
        },
    )


def _result_media(ids: list[int]) -> list[Media]:
    from media_app.selectors import media_queryset

    return list(media_queryset().filter(pk__in=ids))


# --- detections ---------------------------------------------------------------------------


def _detections(query: SearchQuery) -> dict | None:
    """Detections on the query image while a detection model is selected (cached by
    image hash and model, so paging does not rerun the detector)."""
    defaults = SearchDefaults.objects.filter(pk=1).values_list("detection_model", flat=True).first()
    if not defaults:
        return None
    target = query.media if query.kind == "media" else query.upload
    if target is None or (query.kind == "media" and target.media_type == MediaType.VIDEO):
        return {"model": defaults, "items": []}
    key = f"vframe:detections:{defaults}:{target.sha256}"
    items = _cache_call(cache.get, key)
    if items is None:
        from django.core.files.storage import default_storage

        from media_app.imaging import open_image
        from modelzoo.detection import get_detector

        try:
            detector = get_detector(defaults)
        except Exception as exc:
            raise ServiceUnavailable(f"Detection model {defaults!r} cannot be loaded: {exc}", code="detector_unavailable") from None
        with default_storage.open(target.file.name, "rb") as fh:
            img = open_image(fh)
            items = detector.detect(img)
        _cache_call(cache.set, key, items, 3600)
    return {"model": defaults, "items": items}


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


def describe_loaded() -> list[dict[str, Any]]:
    """What this process holds in memory, for search/info."""
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

    from modelzoo.registry import MODELS

    defaults = SearchDefaults.objects.filter(pk=1).select_related("default_feature").first()
    feature = defaults.default_feature if defaults else None
    if feature is None:
        feature = Feature.objects.filter(active=True, index_version__gt=0).order_by("-built_at", "-pk").first()
    model = None
    if feature is not None:
        spec = MODELS.get(feature.modelzoo_name)
        model = {
            "name": feature.modelzoo_name,
            "architecture": getattr(spec, "architecture", None),
            "embedding_dim": getattr(spec, "embedding_dim", None),
            "random_weights": getattr(spec, "random_weights", None),
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

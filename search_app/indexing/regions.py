"""Region vectors: the vectors of parts of a picture (``modelzoo.regions``), stored as
children of their media so that a crop of a picture finds it.

They live apart from the whole-picture vectors, so everything that counts, picks,
groups or compares media (duplicates, random picks, item counts) keeps seeing one
vector per media, and only the search asks for them::

    feature-<id>/regions/vectors/      RegionStore: labels + vectors, append-only shards
    feature-<id>/regions/index-v<n>.*  the region index of version n (hnsw or flat files,
                                       written by the same code as the main index)

A label packs the media id and the region number: ``number << 58 | media_id``
(``region_labels``); a media id at or above 2**58 gets no regions. A media's regions
are deleted with it: the region store reads the parent store's deletion set, so every
deletion is recorded once, and an index version built before a deletion leaves its
regions out as it leaves the media out.

A feature's region index version ``n`` is written beside version ``n`` of its main
index, before the database names that version; a version without region files (built
before region vectors existed, another host that did not fetch them, an index served by
Milvus) is searched with whole-picture vectors only. Regions are made for images (not
video frames) under neural models (``modelzoo.regions.has_regions``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from search_app.indexing.backends import backend_for
from search_app.indexing.index import LoadedIndex, read_meta, remove_versions_except, update_index_files
from search_app.indexing.layout import feature_dir, version_paths
from search_app.indexing.vectors import VectorStore

logger = logging.getLogger(__name__)

REGION_SHIFT = 58
PARENT_MASK = (1 << REGION_SHIFT) - 1


# --- labels ---------------------------------------------------------------------------------------


def region_labels(media_ids, numbers) -> np.ndarray:
    """Index labels of regions ``numbers`` of ``media_ids`` (arrays of one length)."""
    media_ids = np.asarray(media_ids, dtype=np.int64)
    numbers = np.asarray(numbers, dtype=np.int64)
    if media_ids.size and (media_ids.min() < 1 or media_ids.max() > PARENT_MASK):
        raise ValueError("media ids of regions must be between 1 and 2**58 - 1")
    return (numbers << REGION_SHIFT) | media_ids


def region_parents(labels) -> np.ndarray:
    return np.asarray(labels, dtype=np.int64) & PARENT_MASK


def region_numbers(labels) -> np.ndarray:
    return np.asarray(labels, dtype=np.int64) >> REGION_SHIFT


# --- storage --------------------------------------------------------------------------------------


def regions_dir(feature_id: int) -> Path:
    return feature_dir(feature_id) / "regions"


class RegionStore(VectorStore):
    """A feature's region vectors (ids are region labels). Deletions are those of the
    parent store (the whole-picture vectors): a deleted media's regions are deleted."""

    def __init__(self, root: Path, dim: int, parents: VectorStore):
        super().__init__(root, dim)
        self.parents = parents

    def deleted(self) -> np.ndarray:
        gone = self.parents.deleted()
        if not gone.size:
            return np.zeros(0, dtype=np.int64)
        ids = self.ids()
        return ids[np.isin(region_parents(ids), gone)]

    def add_deleted(self, ids) -> int:
        raise TypeError("record deletions in the parent store: a media's regions go with it")

    def parent_ids(self) -> np.ndarray:
        """Media that have region vectors here (deleted ones included), sorted."""
        return np.unique(region_parents(self.ids()))


def region_store(feature_id: int, dim: int) -> RegionStore:
    from search_app.indexing.layout import vector_store

    return RegionStore(regions_dir(feature_id) / "vectors", dim, vector_store(feature_id, dim))


def add_region_vectors(*, feature_id: int, dim: int, media_ids, numbers, vectors) -> int:
    """Store region vectors (ids and numbers as made by ``modelzoo.regions``); returns how
    many. The caller has checked that the feature's model made them."""
    media_ids = np.asarray(media_ids, dtype=np.int64)
    if not media_ids.size:
        return 0
    keep = media_ids <= PARENT_MASK
    labels = region_labels(media_ids[keep], np.asarray(numbers, dtype=np.int64)[keep])
    region_store(feature_id, dim).append(labels, np.asarray(vectors, dtype=np.float32)[keep])
    return int(labels.size)


def feature_add_region_vectors(*, feature, media_ids, numbers, vectors, modelzoo_name: str) -> int:
    """Store region vectors an ingest made from its own decode, as ``feature_add_vectors``
    stores whole-picture ones: only while the feature still uses ``modelzoo_name``
    (checked under its row lock); returns how many were written."""
    from django.db import transaction

    from modelzoo.registry import get_model
    from search_app.models import Feature

    if not len(media_ids):
        return 0
    with transaction.atomic():
        current = Feature.objects.select_for_update().filter(pk=feature.pk).values_list("modelzoo_name", flat=True).first()
        if current != modelzoo_name:
            return 0
        dim = get_model(modelzoo_name).embedding_dim
        return add_region_vectors(feature_id=feature.pk, dim=dim, media_ids=media_ids, numbers=numbers, vectors=vectors)


# --- building ---------------------------------------------------------------------------------------


def eligible_media(media_rows: Iterable[tuple[int, int, int]]) -> np.ndarray:
    """Of (id, width, height) rows of images, the ids that get at least one region."""
    from modelzoo.regions import region_boxes

    return np.asarray(sorted(pk for pk, w, h in media_rows if pk <= PARENT_MASK and region_boxes(w or 0, h or 0)), dtype=np.int64)


def embed_missing_regions(
    *, feature, spec, store: RegionStore, todo: np.ndarray, heartbeat=None, reporter=None, shard_items: int = 4096
) -> tuple[int, list[tuple[int, str]]]:
    """Embed the regions of ``todo`` media from their files into ``store`` (media whose
    whole-picture vectors came from elsewhere: indexed before region vectors existed, or
    not embedded while importing). Returns (vectors written, failures with reasons)."""
    from django.core.files.storage import default_storage
    from PIL import Image

    from media_app.models import Media
    from modelzoo.embedding import get_embedder
    from modelzoo.regions import forward_regions, prepare_regions

    if not todo.size:
        return 0, []
    embedder = get_embedder(spec.name)
    written = 0
    failed: list[tuple[int, str]] = []
    ids: list[int] = []
    numbers: list[int] = []
    arrays: list[np.ndarray] = []
    total = int(todo.size)

    def flush() -> None:
        nonlocal written
        if arrays:
            vectors = forward_regions(embedder, arrays)
            written += add_region_vectors(feature_id=feature.pk, dim=store.dim, media_ids=ids, numbers=numbers, vectors=vectors)
            ids.clear()
            numbers.clear()
            arrays.clear()

    done = 0
    for start in range(0, todo.size, 500):
        part = todo[start : start + 500].tolist()
        for pk, name in Media.objects.filter(pk__in=part).order_by("pk").values_list("pk", "file"):
            try:
                with default_storage.open(name, "rb") as fh, Image.open(fh) as img:
                    _draft_like_embedder(img, spec)
                    prepared = prepare_regions(embedder, img)
            except Exception as exc:  # one unreadable file never stops the build
                failed.append((pk, f"{type(exc).__name__}: {exc}"))
                continue
            for number, array in prepared:
                ids.append(pk)
                numbers.append(number)
                arrays.append(array)
            if len(arrays) >= shard_items:
                flush()
        done += len(part)
        if reporter is not None:
            reporter(done, total, "embedding regions")
        if heartbeat is not None:
            heartbeat()
    flush()
    return written, failed


def _draft_like_embedder(img, spec) -> None:
    """Decode a JPEG at the DCT scale ``Embedder.prepare`` (and the ingest) would use, so
    regions made here equal those made while importing."""
    import math

    w, h = img.size
    if img.format == "JPEG" and getattr(img, "tile", None) and min(w, h) > spec.resize_size:
        scale = spec.resize_size / min(w, h)
        img.draft(img.mode, (math.ceil(w * scale), math.ceil(h * scale)))


def write_version(
    *, feature, dim: int, current_version: int, new_version: int, full: bool = False, threads: int = 0, compact_fraction: float = 0.2
) -> dict | None:
    """Write region index version ``new_version`` from the region store (incremental
    from ``current_version`` where it can be); None when there are no region vectors."""
    store = region_store(feature.pk, dim)
    if not store.exists() or not store.ids().size:
        return None
    directory = regions_dir(feature.pk)
    index_type = feature.index_type if feature.index_type in ("hnsw", "flat") else "hnsw"
    prev_exists = current_version and read_meta(directory, current_version) is not None
    meta = update_index_files(
        directory=directory,
        store=store,
        index_type=index_type,
        params=feature.index_params,
        current_version=current_version if prev_exists else 0,
        new_version=new_version,
        full=full,
        threads=threads,
        compact_fraction=compact_fraction,
        extra_meta={"feature_id": feature.pk, "regions": True},
    )
    if meta is None:
        # Unchanged since the current version: the new version names the same files.
        _link_version(directory, current_version, new_version, index_type)
        meta = read_meta(directory, new_version)
    return meta


def _link_version(directory: Path, old: int, new: int, index_type: str) -> None:
    import os
    import shutil

    src, dst = version_paths(directory, old, index_type), version_paths(directory, new, index_type)
    for key in ("data", "ids", "meta"):
        tmp = dst[key].with_name(f".{dst[key].name}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(src[key], tmp)
        except OSError:
            shutil.copyfile(src[key], tmp)
        if key == "meta":
            import json

            meta = json.loads(tmp.read_text())
            meta["version"] = new
            tmp.unlink()
            tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp, dst[key])


def outdated(*, feature, dim: int, version: int) -> bool:
    """Whether the region store holds live vectors that index version ``version`` lacks."""
    store = region_store(feature.pk, dim)
    if not store.exists():
        return False
    live = store.live_ids()
    if not live.size:
        return False
    directory = regions_dir(feature.pk)
    meta = read_meta(directory, version) if version else None
    if meta is None:
        return True
    indexed = np.load(version_paths(directory, version, meta["index_type"])["ids"])
    return bool(np.setdiff1d(live, indexed, assume_unique=True).size)


def prune(feature_id: int, keep: set[int]) -> None:
    remove_versions_except(regions_dir(feature_id), keep)


# --- the build's steps (search_app.indexing.build) ---------------------------------------------------


def _applies(feature, spec) -> bool:
    from modelzoo.regions import has_regions

    return has_regions(spec)


def build_embed(*, feature, spec, heartbeat=None, reporter=None) -> int:
    """Embed the regions of indexed images that have none yet; returns vectors written."""
    from media_app.models import Media, MediaType

    if not _applies(feature, spec):
        return 0
    store = region_store(feature.pk, spec.embedding_dim)
    store.remove_temp_files()
    have_whole = store.parents.live_ids()
    rows = Media.objects.filter(media_type=MediaType.IMAGE).order_by().values_list("pk", "width", "height").iterator(chunk_size=20000)
    todo = np.setdiff1d(np.intersect1d(eligible_media(rows), have_whole), store.parent_ids())
    written, failed = embed_missing_regions(feature=feature, spec=spec, store=store, todo=todo, heartbeat=heartbeat, reporter=reporter)
    for media_id, reason in failed[:20]:
        logger.warning("feature %s: no region vectors for media %s: %s", feature.pk, media_id, reason)
    return written


def build_publish(*, feature, spec, meta: dict | None, current: int, full: bool) -> dict | None:
    """Write region index version ``current + 1`` before the database names it.

    ``meta`` is what the main index's backend wrote (None: nothing changed there). When
    only region vectors are new (images indexed before regions existed), version
    ``current + 1`` of the main index is made to name the same files as ``current``, so
    the new regions still get a version of their own. Returns the main version's meta.
    """
    from django.conf import settings

    from search_app.indexing import sharing

    if not _applies(feature, spec):
        return meta
    dim = spec.embedding_dim
    backend = backend_for(feature.index_type)
    if backend.holds_parts:
        # The engine keeps the regions beside the whole vectors, in the version just
        # written (or the current one): what the store holds live, nothing else.
        store = region_store(feature.pk, dim)
        labels = store.live_ids()
        backend.sync_parts(
            feature=feature,
            meta=meta,
            labels=labels,
            owners=region_parents(labels),
            numbers=region_numbers(labels),
            batches=lambda some: store.iter_live(only=some, batch=2000),
        )
        return meta
    if meta is None:
        if not current or not outdated(feature=feature, dim=dim, version=current):
            return None
        old = read_meta(feature_dir(feature.pk), current)
        if old is None:
            return None
        _link_version(feature_dir(feature.pk), current, current + 1, old["index_type"])
        sharing.push_version(feature.pk, current + 1, old["index_type"])
        meta = {**read_meta(feature_dir(feature.pk), current + 1), "mode": "unchanged", "added": 0, "removed": 0}
    write_version(
        feature=feature,
        dim=dim,
        current_version=current,
        new_version=current + 1,
        full=full,
        threads=int(getattr(settings, "INDEX_THREADS", 0)),
        compact_fraction=float(getattr(settings, "INDEX_COMPACT_FRACTION", 0.2)),
    )
    return meta


def build_after_publish(*, feature, spec, keep: set[int], compact_fraction: float) -> None:
    if not _applies(feature, spec):
        return
    prune(feature.pk, keep)
    store = region_store(feature.pk, spec.embedding_dim)
    stats = store.stats()
    if stats["stored"] and stats["deleted"] / stats["stored"] > compact_fraction:
        store.compact()


# --- searching ---------------------------------------------------------------------------------------

_loaded: dict[int, LoadedIndex | None] = {}
_loaded_version: dict[int, int] = {}
_lock = threading.Lock()


def load_version(feature_id: int, version: int, dim: int) -> LoadedIndex | None:
    """The region index of version ``version`` (None when it has none)."""
    directory = regions_dir(feature_id)
    meta = read_meta(directory, version)
    if meta is None:
        return None
    paths = version_paths(directory, version, meta["index_type"])
    ids = np.load(paths["ids"]).astype(np.int64, copy=False)
    gone = VectorStore(feature_dir(feature_id) / "vectors", dim).deleted()
    excluded = ids[np.isin(region_parents(ids), gone)] if gone.size else np.zeros(0, dtype=np.int64)
    if meta["index_type"] == "hnsw":
        import hnswlib

        index = hnswlib.Index(space="cosine", dim=int(meta["dim"]))
        index.load_index(str(paths["data"]))
        return LoadedIndex(feature_id, version, "hnsw", int(meta["dim"]), meta, ids, excluded, _hnsw=index)
    return LoadedIndex(feature_id, version, "flat", int(meta["dim"]), meta, ids, excluded, _vectors=np.load(paths["data"]))


def for_index(index) -> LoadedIndex | None:
    """The region index that goes with a loaded main index (same feature and version),
    loaded once per process and version; None for an index without regions. An engine
    that keeps the regions itself (Milvus) searches them in the same collection."""
    own = getattr(index, "parts", None)
    if own is not None:
        return own()
    if getattr(index, "index_type", "") not in ("hnsw", "flat"):
        return None
    fid, version = index.feature_id, index.version
    if _loaded_version.get(fid) == version:
        return _loaded.get(fid)
    with _lock:
        if _loaded_version.get(fid) != version:
            started = time.perf_counter()
            try:
                found = load_version(fid, version, index.dim)
            except Exception:  # a damaged region index never stops a search
                logger.exception("feature %s: could not load region index version %s", fid, version)
                found = None
            _loaded[fid], _loaded_version[fid] = found, version
            if found is not None:
                logger.info("feature %s: loaded region index version %s (%d regions) in %.1f s", fid, version, found.count, time.perf_counter() - started)
    return _loaded.get(fid)


def clear() -> None:
    """Forget loaded region indexes (tests)."""
    with _lock:
        _loaded.clear()
        _loaded_version.clear()

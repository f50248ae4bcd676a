"""Index type ``milvus``: a feature's vectors in a Milvus collection, searched there.

Where Milvus is, and how a call to it fails: ``milvus_conn``.

A collection holds ``id`` (int64 key: a media id, or the label of a vector a media
owns), ``media_id`` (its owner, itself for a whole media's vector), ``part`` (0 for a
whole media's vector, else the number of the region it shows) and ``vector`` (float32,
unit length, inner product = cosine). Searches, counts, picks and builds see the whole
vectors (``part == 0``); ``knn(..., parts=True)`` (``MilvusParts``) searches the
regions, which every build makes equal to the live ones of the feature's region store
(:meth:`MilvusBackend.sync_parts`) and which go with their media when it is forgotten. Each full build writes a new collection
``<prefix>_f<feature>_v<version>``; incremental builds insert and delete in the current
one. The Feature row names the collection (``milvus_collection``) and the version that
last wrote it (``milvus_version``), set with ``index_version`` in one UPDATE.

A build is resumable: what is already in the target collection is read back from it
(its ids), so a build that died half-way inserts only the rest, and one that ran twice
inserts nothing twice. A web process holds no vectors: a search is one Milvus call,
and a media's own vector a query (kept in a small LRU). Every call waits at most
``MILVUS_TIMEOUT`` seconds; an unreachable Milvus answers 503 ``index_unavailable``,
a collection dropped behind the app's back 503 ``index_missing`` (and the feature is
marked failed with the reason and the command that rebuilds it).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from core.errors import InvalidInput, ServiceUnavailable
from search_app.indexing.backends import milvus_conn
from search_app.indexing.backends.base import IndexBackend
from search_app.indexing.backends.milvus_conn import CollectionMissing, IndexUnavailable, call, is_lite, timeout_s  # noqa: F401 (IndexUnavailable: callers' import point)
from search_app.indexing.index import remove_versions_except, validate_index_params
from search_app.indexing.layout import feature_dir

logger = logging.getLogger(__name__)

# Milvus answers at most this many hits per query (its topk limit).
MAX_TOPK = 16384
# Rows per insert call (a 512-d batch is 4 MiB, well under gRPC's message limit).
INSERT_BATCH = 2000
# Ids per delete/query expression.
ID_CHUNK = 4096
# Vectors of recently queried media kept per process (search by media asks for its
# query's vector first): bounded, so memory does not grow with the index.
VECTOR_CACHE_ITEMS = 512
# Whole media's vectors, and the regions they own.
WHOLE = "part == 0"
PARTS = "part > 0"
# Only these index types exist in milvus-lite; it builds FLAT where a server builds HNSW.
LITE_INDEXES = ("FLAT", "IVF_FLAT")


def reset() -> None:
    """Forget this process's Milvus clients, lite host and cached vectors (tests)."""
    milvus_conn.reset()
    _vector_cache.clear()


# --- naming and index parameters ------------------------------------------------------------------


def collection_prefix(feature_id: int) -> str:
    return f"{settings.MILVUS_PREFIX}_f{int(feature_id)}_v"


def collection_name(feature_id: int, version: int) -> str:
    return f"{collection_prefix(feature_id)}{int(version)}"


def index_kind() -> str:
    kind = settings.MILVUS_INDEX
    if is_lite(settings.MILVUS_URI) and kind not in LITE_INDEXES:
        # milvus-lite has no HNSW, and its IVF_FLAT ignores nprobe (recall@10 stays at
        # about 0.92 on bench/milvus.py's data whatever ef asks): exact search instead.
        return "FLAT"
    return kind


def index_build_params(kind: str, params: dict, count: int) -> dict:
    if kind == "HNSW":
        return {"M": int(params["M"]), "efConstruction": int(params["ef_construction"])}
    if kind == "IVF_FLAT":
        # Milvus's rule of thumb: about 4 sqrt(n) lists.
        return {"nlist": int(min(65536, max(16, 4 * math.sqrt(max(count, 1)))))}
    return {}


def search_params(kind: str, ef: int, built: dict) -> dict:
    if kind == "HNSW":
        return {"ef": int(ef)}
    if kind == "IVF_FLAT":
        nlist = int(built.get("nlist") or 1024)
        # Lists probed grow with ef as HNSW's candidate list does: a deeper page scans more.
        return {"nprobe": int(min(nlist, max(8, ef // 2)))}
    if kind == "DISKANN":
        return {"search_list": int(max(ef, 16))}
    return {}


def _id_list(ids: Iterable[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


# --- the read side ---------------------------------------------------------------------------------


class _VectorCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, collection: str, key: int) -> np.ndarray | None:
        with self._lock:
            found = self._items.get((collection, key))
            if found is not None:
                self._items.move_to_end((collection, key))
            return found

    def put(self, collection: str, key: int, vector: np.ndarray) -> None:
        with self._lock:
            self._items[(collection, key)] = vector
            self._items.move_to_end((collection, key))
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def drop(self, collection: str, keys: Iterable[int]) -> None:
        with self._lock:
            for key in keys:
                self._items.pop((collection, int(key)), None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(v.nbytes for v in self._items.values())


_vector_cache = _VectorCache(VECTOR_CACHE_ITEMS)


@dataclass(eq=False)
class MilvusIndex:
    """A feature's collection as a :class:`~search_app.indexing.backends.base.SearchIndex`.
    Cheap to make (no call to Milvus): made from the Feature row for every search."""

    feature_id: int
    version: int
    collection: str
    dim: int
    item_count: int
    index_params: dict
    kind: str
    built: dict = field(default_factory=dict)
    index_type: str = "milvus"

    @property
    def meta(self) -> dict:
        return {"version": self.version, "index_type": "milvus", "collection": self.collection, "milvus_index": self.kind, **self.built, **self.params}

    @property
    def params(self) -> dict:
        return {k: self.index_params.get(k) for k in ("M", "ef_construction", "ef")}

    @property
    def ef(self) -> int:
        return int(self.index_params.get("ef") or 0)

    @property
    def count(self) -> int:
        return int(self.item_count)

    @property
    def memory_bytes(self) -> int:
        return 0  # the vectors live in Milvus; only a bounded cache of query vectors is here

    def _call(self, fn: Callable[[Any], Any], what: str) -> Any:
        try:
            return call(fn, what=what, collection=self.collection)
        except CollectionMissing:
            raise CollectionMissing(report_missing(self.feature_id, self.collection)) from None

    def _rows(self, ids: list[int]) -> dict[int, np.ndarray]:
        found: dict[int, np.ndarray] = {}
        todo = []
        for key in ids:
            hit = _vector_cache.get(self.collection, key)
            if hit is not None:
                found[key] = hit
            else:
                todo.append(key)
        for start in range(0, len(todo), ID_CHUNK):
            part = todo[start : start + ID_CHUNK]
            rows = self._call(
                lambda c, part=part: c.query(self.collection, filter=f"id in {_id_list(part)}", output_fields=["vector"], timeout=timeout_s()),
                "read stored vectors",
            )
            for row in rows:
                vector = np.asarray(row["vector"], dtype=np.float32)
                found[int(row["id"])] = vector
                _vector_cache.put(self.collection, int(row["id"]), vector)
        return found

    def __contains__(self, media_id: int) -> bool:
        return int(media_id) in self._rows([int(media_id)])

    def get_vectors(self, media_ids: Iterable[int]) -> np.ndarray:
        keys = [int(m) for m in media_ids]
        rows = self._rows(keys)
        missing = [k for k in keys if k not in rows]
        if missing:
            raise KeyError(f"media {missing[:5]} not in collection {self.collection}")
        return np.stack([rows[k] for k in keys]).astype(np.float32, copy=False).reshape(-1, self.dim)

    def search(self, vector: np.ndarray, k: int, ef: int | None = None, exclude_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        ids, sims = self.knn(np.asarray(vector, dtype=np.float32).reshape(1, -1), k, ef=ef, exclude_ids=exclude_ids)
        found = ids[0] >= 0
        return ids[0][found], sims[0][found]

    def knn(
        self, vectors: np.ndarray, k: int, ef: int | None = None, exclude_ids: Iterable[int] | None = None, *, parts: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """As ``LoadedIndex.knn``; with ``parts``, over the region vectors (labels back)."""
        q = np.ascontiguousarray(vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if q.shape[1] != self.dim:
            raise InvalidInput(f"Query vectors have {q.shape[1]} dimensions; this index has {self.dim}.")
        k = int(k)
        if k < 1:
            raise InvalidInput("k must be at least 1.")
        drop = set() if exclude_ids is None else {int(i) for i in exclude_ids}
        n = q.shape[0]
        out_ids = np.full((n, k), -1, dtype=np.int64)
        out_sims = np.full((n, k), -np.inf, dtype=np.float32)
        limit = min(k + len(drop), MAX_TOPK)
        if n == 0 or self.count == 0:
            return out_ids, out_sims
        use_ef = max(int(ef or 0), self.ef, limit)
        params = {"metric_type": "IP", "params": search_params(self.kind, use_ef, self.built)}
        answers = self._call(
            lambda c: c.search(
                self.collection,
                data=list(q),
                filter=PARTS if parts else WHOLE,
                limit=limit,
                search_params=params,
                anns_field="vector",
                timeout=timeout_s(),
            ),
            "search",
        )
        for row, hits in enumerate(answers):
            pairs = [(int(h["id"]), float(h["distance"])) for h in hits if int(h["id"]) not in drop]
            # Best first; ties by id, as the exact index orders them, so paging is stable.
            pairs.sort(key=lambda p: (-p[1], p[0]))
            pairs = pairs[:k]
            if pairs:
                out_ids[row, : len(pairs)] = [p[0] for p in pairs]
                out_sims[row, : len(pairs)] = [p[1] for p in pairs]
        return out_ids, out_sims

    def parts(self) -> MilvusParts:
        """The region vectors in this collection, searched as a region index is."""
        return MilvusParts(self)

    def present(self, media_ids: Iterable[int]) -> np.ndarray:
        keys = sorted({int(m) for m in media_ids})
        found: list[int] = []
        for start in range(0, len(keys), ID_CHUNK):
            part = keys[start : start + ID_CHUNK]
            rows = self._call(
                lambda c, part=part: c.query(self.collection, filter=f"id in {_id_list(part)}", output_fields=["id"], timeout=timeout_s()),
                "look items up",
            )
            found.extend(int(r["id"]) for r in rows)
        return np.unique(np.asarray(found, dtype=np.int64))

    def live_ids(self) -> np.ndarray:
        return collection_ids(self.collection, feature_id=self.feature_id)

    def pick(self, digest: int) -> int | None:
        """The item nearest a unit vector drawn from ``digest``: deterministic for the
        same data without listing the ids (no ordered access in Milvus)."""
        rng = np.random.default_rng(int(digest) % (1 << 63))
        probe = rng.standard_normal(self.dim).astype(np.float32)
        probe /= max(float(np.linalg.norm(probe)), 1e-12)
        ids, _ = self.search(probe, 1)
        return int(ids[0]) if ids.size else None

    def media_of(self, ids: np.ndarray) -> np.ndarray:
        keys = [int(i) for i in np.asarray(ids).ravel()]
        owner: dict[int, int] = {}
        for start in range(0, len(keys), ID_CHUNK):
            part = keys[start : start + ID_CHUNK]
            rows = self._call(
                lambda c, part=part: c.query(self.collection, filter=f"id in {_id_list(part)}", output_fields=["media_id"], timeout=timeout_s()),
                "read owners",
            )
            owner.update((int(r["id"]), int(r["media_id"])) for r in rows)
        return np.asarray([owner.get(k, k) for k in keys], dtype=np.int64)


@dataclass(eq=False)
class MilvusParts:
    """A collection's region vectors (``part > 0``) as ``search_app.query.matching``
    searches a region index: ``count`` and ``knn`` (labels back), ``live_ids``."""

    index: MilvusIndex

    @property
    def count(self) -> int:
        """An upper bound (every media with every region): counting them is a Milvus
        call, and a search for more than there are returns what there is."""
        from modelzoo.regions import REGION_BOXES

        return self.index.count * len(REGION_BOXES)

    def knn(self, vectors: np.ndarray, k: int, ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.index.knn(vectors, k, ef=ef, parts=True)

    def live_ids(self) -> np.ndarray:
        return collection_ids(self.index.collection, feature_id=self.index.feature_id, where=PARTS)


def collection_ids(collection: str, *, feature_id: int | None = None, batch: int = 16384, where: str = WHOLE) -> np.ndarray:
    """Every whole media's id in ``collection`` (``where=PARTS``: every region's label),
    sorted (read back in pages: O(n) ids, no vectors)."""
    chunks: list[np.ndarray] = []

    def read(c):
        chunks.clear()
        iterator = c.query_iterator(collection, batch_size=batch, filter=where, output_fields=["id"], timeout=timeout_s(write=True))
        try:
            while True:
                page = iterator.next()
                if not page:
                    break
                chunks.append(np.fromiter((int(r["id"]) for r in page), dtype=np.int64, count=len(page)))
        finally:
            iterator.close()

    try:
        call(read, what="list the collection's ids", collection=collection, write=True)
    except CollectionMissing:
        if feature_id is None:
            raise
        raise CollectionMissing(report_missing(feature_id, collection)) from None
    return np.unique(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)


def report_missing(feature_id: int, collection: str) -> str:
    """Mark the feature failed when the collection its row names is gone, and say how to
    rebuild it; the message is the 503's."""
    from search_app.models import Feature, FeatureStatus

    message = (
        f"Milvus collection {collection} of feature {feature_id} is gone (dropped outside this application). "
        f"Rebuild it from the stored vectors: manage.py build_index {feature_id} --rebuild "
        f'(or POST /api/v1/task/run/ {{"task_name": "build_index", "params": {{"feature_id": {feature_id}, "full": true}}}}).'
    )
    Feature.objects.filter(pk=feature_id, milvus_collection=collection).exclude(status=FeatureStatus.BUILDING).update(
        status=FeatureStatus.FAILED, error=message
    )
    return message


# --- the build side ---------------------------------------------------------------------------------


def _delete_ids(collection: str, ids: np.ndarray, *, what: str):
    """Delete rows of ``collection`` by id, ID_CHUNK at a time; yields each chunk once gone."""
    for start in range(0, ids.size, ID_CHUNK):
        part = ids[start : start + ID_CHUNK]
        call(
            lambda c, part=part: c.delete(collection, filter=f"id in {_id_list(part)}", timeout=timeout_s(write=True)),
            what=what,
            collection=collection,
            write=True,
        )
        yield part


def _upsert_parts(collection: str, labels, owners, numbers, vectors) -> None:
    """Region vectors into ``collection``: keys ``labels``, owned by the media ``owners``
    as region ``numbers`` (>= 1; 0 is a whole media's vector)."""
    labels, owners, numbers = (np.asarray(a, dtype=np.int64) for a in (labels, owners, numbers))
    if numbers.size and numbers.min() < 1:
        raise InvalidInput("Region numbers start at 1 (0 is the whole media).")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    for start in range(0, labels.size, INSERT_BATCH):
        stop = start + INSERT_BATCH
        rows = [
            {"id": int(i), "media_id": int(m), "part": int(n), "vector": v}
            for i, m, n, v in zip(labels[start:stop].tolist(), owners[start:stop].tolist(), numbers[start:stop].tolist(), vectors[start:stop], strict=True)
        ]
        call(lambda c, rows=rows: c.upsert(collection, data=rows, timeout=timeout_s(write=True)), what="insert regions", collection=collection, write=True)


class MilvusBackend(IndexBackend):
    name = "milvus"
    holds_parts = True

    def open(self, feature) -> MilvusIndex:
        from modelzoo.registry import MODELS

        spec = MODELS.get(feature.modelzoo_name)
        kind = index_kind()
        return MilvusIndex(
            feature_id=feature.pk,
            version=feature.index_version,
            collection=feature.milvus_collection,
            dim=int(getattr(spec, "embedding_dim", 0)),
            item_count=feature.item_count,
            index_params=validate_index_params(feature.index_params),
            kind=kind,
            built=index_build_params(kind, validate_index_params(feature.index_params), feature.item_count),
        )

    def _create(self, name: str, *, dim: int, kind: str, built: dict) -> None:
        from pymilvus import DataType

        def create(c):
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False, description="VFRAME Search feature vectors")
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("media_id", DataType.INT64)
            schema.add_field("part", DataType.INT32)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dim))
            index = c.prepare_index_params()
            index.add_index(field_name="vector", index_type=kind, metric_type="IP", params=built)
            c.create_collection(name, schema=schema, index_params=index, consistency_level="Bounded", timeout=timeout_s(write=True))

        call(create, what=f"create collection {name}", write=True)

    def _matches(self, name: str, *, dim: int, kind: str, built: dict) -> bool:
        """Whether ``name`` exists with this dimension and index (nlist may differ)."""

        def describe(c):
            if not c.has_collection(name, timeout=timeout_s(write=True)):
                return None
            return c.describe_collection(name, timeout=timeout_s(write=True)), c.describe_index(name, "vector", timeout=timeout_s(write=True))

        found = call(describe, what=f"describe collection {name}", write=True)
        if found is None:
            return False
        info, index = found
        vector = next((f for f in info.get("fields", []) if f.get("name") == "vector"), {})
        if int(vector.get("params", {}).get("dim", 0)) != int(dim) or (index or {}).get("index_type") != kind:
            return False
        return all(str(index.get(k)) == str(v) for k, v in built.items() if k != "nlist")

    def write_version(self, *, feature, store, current_version, new_version, full, reporter, heartbeat) -> dict | None:
        params = validate_index_params(feature.index_params)
        live = store.live_ids()
        kind = index_kind()
        built = index_build_params(kind, params, int(live.size))
        current = feature.milvus_collection
        incremental = bool(current) and not full and self._matches(current, dim=store.dim, kind=kind, built=built)
        if incremental:
            target, mode = current, "incremental"
        else:
            # A build of this version that died left its collection: resume into it.
            target = collection_name(feature.pk, new_version)
            mode = "resumed" if self._matches(target, dim=store.dim, kind=kind, built=built) else "full"
            if mode == "full":
                call(lambda c: c.drop_collection(target, timeout=timeout_s(write=True)), what=f"drop {target}", write=True)
                self._create(target, dim=store.dim, kind=kind, built=built)
        present = collection_ids(target)
        to_remove = np.setdiff1d(present, live, assume_unique=True)
        to_add = np.setdiff1d(live, present, assume_unique=True)
        if incremental and not to_remove.size and not to_add.size:
            return None
        total, done = int(live.size), int(live.size - to_add.size)
        for part in _delete_ids(target, to_remove, what="delete"):
            _vector_cache.drop(target, part.tolist())
            heartbeat()
        if reporter is not None:
            reporter(done, total, "indexing")
        for ids, vectors in store.iter_live(only=to_add, batch=INSERT_BATCH):
            rows = [{"id": int(i), "media_id": int(i), "part": 0, "vector": v} for i, v in zip(ids.tolist(), vectors, strict=True)]
            call(lambda c, rows=rows: c.insert(target, data=rows, timeout=timeout_s(write=True)), what="insert", collection=target, write=True)
            done += int(ids.size)
            if reporter is not None:
                reporter(done, total, "indexing")
            heartbeat()

        def publish(c):
            c.flush(target, timeout=timeout_s(write=True))
            c.load_collection(target, timeout=timeout_s(write=True))

        call(publish, what=f"flush and load {target}", collection=target, write=True)
        self._wait_indexed(target, heartbeat)
        heartbeat()
        return {
            "version": int(new_version),
            "index_type": "milvus",
            "collection": target,
            "milvus_index": kind,
            "dim": int(store.dim),
            "count": total,
            "mode": mode,
            "added": int(to_add.size),
            "removed": int(to_remove.size),
            **built,
            **params,
            "row": {"milvus_collection": target, "milvus_version": int(new_version)},
        }

    def _wait_indexed(self, name: str, heartbeat: Callable[[], None]) -> None:
        """A server builds segment indexes in the background: searches run before they
        are built scan raw segments, so the version is published once they are."""
        deadline = time.monotonic() + float(getattr(settings, "MILVUS_INDEX_WAIT", 3600))
        while time.monotonic() < deadline:
            info = call(lambda c: c.describe_index(name, "vector", timeout=timeout_s(write=True)), what="describe the index", collection=name, write=True)
            if not info or int(info.get("pending_index_rows") or 0) == 0 or str(info.get("state")) == "Finished":
                return
            heartbeat()
            time.sleep(1.0)
        logger.warning("milvus: index of %s still building; publishing it anyway", name)

    def prune(self, *, feature, keep: set[int]) -> None:
        current = type(feature).objects.filter(pk=feature.pk).values_list("milvus_collection", flat=True).first()
        self.drop(feature_id=feature.pk, keep=current or "")
        # Index files of the type this feature had before are no longer read.
        remove_versions_except(feature_dir(feature.pk), keep)

    def add_parts(self, *, feature, labels, media_ids, parts, vectors) -> int:
        """Write region vectors into the feature's collection: ``labels`` their keys
        (distinct from every media id), ``media_ids`` their owners, ``parts`` their
        region numbers (>= 1). Returns how many were written."""
        collection = feature.milvus_collection
        labels = np.asarray(labels, dtype=np.int64)
        if not collection or labels.size == 0:
            return 0
        _upsert_parts(collection, labels, media_ids, parts, vectors)
        return int(labels.size)

    def sync_parts(self, *, feature, meta, labels, owners, numbers, batches) -> int:
        collection = (meta or {}).get("collection") or feature.milvus_collection
        if not collection:
            return 0
        present = collection_ids(collection, feature_id=feature.pk, where=PARTS)
        to_remove = np.setdiff1d(present, labels, assume_unique=True)
        to_add = np.setdiff1d(labels, present, assume_unique=True)
        for _ in _delete_ids(collection, to_remove, what="delete regions"):
            pass
        written = 0
        for ids, vectors in batches(to_add):
            at = np.searchsorted(labels, ids)
            _upsert_parts(collection, ids, owners[at], numbers[at], vectors)
            written += int(ids.size)
        if written or to_remove.size:
            call(lambda c: c.flush(collection, timeout=timeout_s(write=True)), what=f"flush {collection}", collection=collection, write=True)
        return written

    def forget(self, *, feature, media_ids: np.ndarray) -> None:
        collection = feature.milvus_collection
        if not collection:
            return
        ids = [int(i) for i in media_ids]
        try:
            for start in range(0, len(ids), ID_CHUNK):
                part = ids[start : start + ID_CHUNK]
                call(
                    lambda c, part=part: c.delete(collection, filter=f"media_id in {_id_list(part)}", timeout=timeout_s()), what="delete", collection=collection
                )
        except ServiceUnavailable:
            logger.warning("feature %s: could not delete %s media from Milvus now; the scheduled build will", feature.pk, len(ids), exc_info=True)
        _vector_cache.drop(collection, ids)

    def drop(self, *, feature_id: int, keep: str = "") -> None:
        """Drop the feature's collections (all of them, or all but ``keep``)."""
        prefix = collection_prefix(feature_id)

        def drop_all(c):
            for name in c.list_collections(timeout=timeout_s(write=True)):
                if name.startswith(prefix) and name[len(prefix) :].isdigit() and name != keep:
                    c.drop_collection(name, timeout=timeout_s(write=True))
                    logger.info("milvus: dropped %s", name)

        try:
            call(drop_all, what="drop collections", write=True)
        except ServiceUnavailable:
            logger.warning("feature %s: could not drop its Milvus collections now", feature_id, exc_info=True)

    def health(self, feature) -> dict[str, Any]:
        name = feature.milvus_collection
        if not name:
            return {"ok": False, "reason": "not built yet"}
        try:
            exists = call(lambda c: c.has_collection(name, timeout=timeout_s()), what="check the collection")
        except ServiceUnavailable as exc:
            return {"ok": False, "reason": exc.message}
        return {"ok": True, "collection": name} if exists else {"ok": False, "reason": f"collection {name} is gone"}

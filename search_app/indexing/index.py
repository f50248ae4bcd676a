"""Index files of a feature: building them from the vector store (worker side) and
loading them read-only (searcher side). No database access in this module.

Files of index version ``n`` under ``settings.INDEX_DIR/feature-<id>/``::

    index-v<n>.bin | index-v<n>.npy   the hnswlib index, or the flat index's vectors
    index-v<n>.ids.npy                live media ids in the index, sorted (int64)
    index-v<n>.json                   type, dim, M, ef_construction, ef, counts, ...

All three are written under temporary names and renamed into place, the JSON last:
a version whose JSON exists is complete. ``Feature.index_version`` is raised only after
that, so a searcher that reads the version from the database never sees a partial
index, and a crash mid-build leaves the previous version as it was. The version before
the current one is kept, so a searcher that read the old number a moment ago can still
open it; older ones are removed.

Labels are Media primary keys (no dense-id assumption). Vectors are L2-normalised and
the space is cosine, so ``similarity = 1 - hnswlib distance = dot product``.

Read side (for the search API)::

    idx = load_index(feature)               # immutable LoadedIndex of feature.index_version
    ids, sims = idx.search(vector, k=30)    # 1-D, best first, cosine similarity
    ids2d, sims2d = idx.knn(vectors, k, ef) # batched, padded with -1 / -inf
    idx.count, idx.memory_bytes, idx.version, idx.params, idx.get_vectors([media_id])

Callers cache a LoadedIndex per ``(feature.pk, feature.index_version)`` and swap in a
new one when the version changes; queries on one LoadedIndex are thread-safe.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.utils import timezone

from core.errors import Conflict, InvalidInput, ServiceUnavailable
from core.files import atomic_path, atomic_write
from search_app.indexing.layout import VERSION_RE, feature_dir, version_paths
from search_app.indexing.vectors import VectorStore
from search_app.models import default_index_params

logger = logging.getLogger(__name__)

# Types written as index files here; ``milvus`` lives in a Milvus collection
# (search_app/indexing/backends/milvus.py) and takes the same parameters.
FILE_INDEX_TYPES = ("hnsw", "flat")
INDEX_TYPES = (*FILE_INDEX_TYPES, "milvus")
# Inclusive ranges. M beyond ~100 only costs memory; ef_construction below M builds a
# poor graph; ef is a floor (it is raised to k per query).
PARAM_RANGES = {"M": (2, 128), "ef_construction": (8, 4096), "ef": (1, 8192)}
# hnswlib's in-memory overhead beyond its serialised size: label map entry and the
# per-element link lock (measured with hnswlib 0.8.0 on x86-64 Linux).
HNSW_OVERHEAD_PER_ELEMENT = 144


class IndexNotReady(Conflict):
    code = "index_not_built"


class IndexMissing(ServiceUnavailable):
    code = "index_missing"


# --- parameters --------------------------------------------------------------------------------


def validate_index_params(params: Any) -> dict:
    """Index parameters merged over the defaults; InvalidInput with per-key messages."""
    merged = default_index_params()
    if params in (None, ""):
        return merged
    if not isinstance(params, dict):
        raise InvalidInput("index_params must be an object.", fields={"index_params": ["Expected an object with M, ef_construction, ef."]})
    errors: dict[str, list[str]] = {}
    for key, value in params.items():
        if key not in PARAM_RANGES:
            errors[key] = [f"Unknown parameter; expected one of {', '.join(PARAM_RANGES)}."]
            continue
        lo, hi = PARAM_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int):
            errors[key] = ["Expected an integer."]
        elif not lo <= value <= hi:
            errors[key] = [f"Must be between {lo} and {hi}."]
        else:
            merged[key] = value
    if errors:
        raise InvalidInput("Invalid index parameters.", fields={"index_params": errors})
    return merged


def validate_index_type(index_type: Any) -> str:
    if index_type not in INDEX_TYPES:
        raise InvalidInput(f"Unknown index type {index_type!r}.", fields={"index_type": [f"Expected one of: {', '.join(INDEX_TYPES)}."]})
    return index_type


# --- paths -------------------------------------------------------------------------------------


def read_meta(directory: Path, version: int) -> dict | None:
    path = directory / f"index-v{version}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def remove_versions_except(directory: Path, keep: Iterable[int]) -> int:
    """Delete index files of every version not in ``keep``, and stray temp files."""
    keep = set(keep)
    removed = 0
    if not directory.is_dir():
        return 0
    for entry in os.scandir(directory):
        match = VERSION_RE.match(entry.name)
        if (match and int(match.group(1)) not in keep) or (entry.name.startswith(".index-v") and entry.name.endswith(".tmp")):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


# --- building (worker side) ----------------------------------------------------------------------


def _threads(threads: int) -> int:
    return threads if threads and threads > 0 else -1


def hnsw_new(dim: int, *, max_elements: int, M: int, ef_construction: int, seed: int = 100):
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=int(dim))
    index.init_index(max_elements=max(1, int(max_elements)), M=int(M), ef_construction=int(ef_construction), random_seed=seed)
    return index


def hnsw_add(index, ids: np.ndarray, vectors: np.ndarray, *, threads: int = 0, reporter=None, done: int = 0, total: int | None = None) -> None:
    """add_items in large chunks (one progress report each; chunking costs ~nothing)."""
    n = ids.size
    total = total if total is not None else n
    chunk = max(20000, n // 10)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        index.add_items(vectors[start:stop], ids[start:stop], num_threads=_threads(threads))
        if reporter is not None:
            reporter(done + stop, total, "indexing")


def _write_version(directory: Path, version: int, index_type: str, *, ids: np.ndarray, payload, meta: dict, before_rename: Callable[[], None] | None) -> None:
    paths = version_paths(directory, version, index_type)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths["data"]) as tmp_data:
        if index_type == "hnsw":
            payload.save_index(str(tmp_data))
            _check_complete(tmp_data, payload.index_file_size())
        else:
            with open(tmp_data, "wb") as fh:
                np.save(fh, np.ascontiguousarray(payload, dtype=np.float32))
        if before_rename is not None:
            before_rename()
    try:
        atomic_write(paths["ids"], lambda fh: np.save(fh, np.ascontiguousarray(ids, dtype=np.int64)))
        atomic_write(paths["meta"], lambda fh: fh.write(json.dumps(meta, indent=1, sort_keys=True).encode()))
    except BaseException:
        # Without its JSON the version is never loaded; drop its other files too, so a
        # failed build (a full disk) leaves nothing of it behind.
        paths["data"].unlink(missing_ok=True)
        paths["ids"].unlink(missing_ok=True)
        raise


def _check_complete(path: Path, expected: int) -> None:
    """hnswlib writes through an unchecked std::ofstream: a full disk or an I/O error
    shows only as a short file, which must never be renamed into place."""
    written = path.stat().st_size
    if written != expected:
        code = errno.ENOSPC if shutil.disk_usage(path.parent).free < expected - written else errno.EIO
        raise OSError(code, f"{os.strerror(code)} (index file written {written} of {expected} bytes)", str(path))


def update_index_files(
    *,
    directory: Path,
    store: VectorStore,
    index_type: str,
    params: dict,
    current_version: int,
    new_version: int,
    full: bool = False,
    threads: int = 0,
    compact_fraction: float = 0.2,
    reporter=None,
    extra_meta: dict | None = None,
    before_rename: Callable[[], None] | None = None,
) -> dict | None:
    """Write index version ``new_version`` from the live vectors of ``store``.

    hnsw: when version ``current_version`` exists with the same M / ef_construction
    and dimension, a copy of it is loaded from disk, deleted media are marked deleted
    and only new media are added (never touching an index a searcher holds). Otherwise,
    or with ``full``, or once deleted elements would pass ``compact_fraction`` of the
    graph, it is built afresh from the stored vectors. flat: the live vectors as a
    matrix. Returns the new version's metadata, or None when the current version
    already matches the store and parameters (then nothing is written).
    """
    if index_type not in FILE_INDEX_TYPES:
        raise InvalidInput(f"Index type {index_type!r} is not written as files.")
    params = validate_index_params(params)
    prev = read_meta(directory, current_version) if current_version else None
    live = store.live_ids()
    prev_paths = version_paths(directory, current_version, prev["index_type"]) if prev else None
    reuse = bool(prev) and not full and prev["index_type"] == index_type and prev["dim"] == store.dim and prev_paths["data"].is_file()
    if reuse and index_type == "hnsw":
        reuse = (prev["M"], prev["ef_construction"]) == (params["M"], params["ef_construction"])
    to_add = to_remove = None
    if reuse:
        prev_ids = np.load(prev_paths["ids"])
        to_remove = np.setdiff1d(prev_ids, live, assume_unique=True)
        to_add = np.setdiff1d(live, prev_ids, assume_unique=True)
        same_params = all(prev.get(k) == v for k, v in params.items())
        if not to_remove.size and not to_add.size and same_params:
            return None
    total = int(live.size)
    mode = "full"
    if index_type == "flat":
        ids, vectors = store.load()
        payload = vectors
        element_count = int(ids.size)
    else:
        element_count = (prev["element_count"] + int(to_add.size)) if reuse else total
        dead = (element_count - total) if reuse else 0
        if reuse and element_count and dead / element_count > compact_fraction:
            reuse = False
            element_count, mode = total, "compacted"
        if reuse:
            import hnswlib

            mode = "incremental"
            payload = hnswlib.Index(space="cosine", dim=store.dim)
            payload.load_index(str(prev_paths["data"]), max_elements=max(1, element_count))
            for media_id in to_remove.tolist():
                try:
                    payload.mark_deleted(media_id)
                except RuntimeError:  # already marked in an earlier version
                    pass
            new_ids, new_vectors = store.load(only=to_add)
            hnsw_add(payload, new_ids, new_vectors, threads=threads, reporter=reporter, done=total - int(new_ids.size), total=total)
            ids = live
        else:
            ids, vectors = store.load()
            payload = hnsw_new(store.dim, max_elements=ids.size, M=params["M"], ef_construction=params["ef_construction"])
            hnsw_add(payload, ids, vectors, threads=threads, reporter=reporter, total=total)
            del vectors
    meta = {
        "version": int(new_version),
        "index_type": index_type,
        "space": "cosine",
        "dim": int(store.dim),
        "count": int(ids.size),
        "element_count": int(element_count),
        "built_at": timezone.now().isoformat(),
        "mode": mode,
        "added": int(to_add.size) if to_add is not None else int(ids.size),
        "removed": int(to_remove.size) if to_remove is not None else 0,
        **params,
        **(extra_meta or {}),
    }
    _write_version(directory, new_version, index_type, ids=ids, payload=payload, meta=meta, before_rename=before_rename)
    return meta


# --- reading (searcher side) ---------------------------------------------------------------------


class _EfGate:
    """Lets concurrent queries share the hnswlib index while ef may differ per query.

    hnswlib keeps ef on the index object, not per query. Queries that want the ef
    currently set run together; one that needs another ef waits until they drain, sets
    it, and runs (with any others wanting that ef). Arrivals for the current ef queue
    behind a waiter for another one, so a deep query is not starved. ef values are
    rounded up to powers of two by the caller, so there are only a few distinct ones.
    """

    def __init__(self, index, ef: int) -> None:
        self._index = index
        self._cond = threading.Condition()
        self._current = ef
        self._readers = 0
        self._waiting: dict[int, int] = {}
        index.set_ef(ef)

    @contextmanager
    def using(self, ef: int):
        with self._cond:
            self._waiting[ef] = self._waiting.get(ef, 0) + 1
            while not self._admissible(ef):
                self._cond.wait()
            self._waiting[ef] -= 1
            if not self._waiting[ef]:
                del self._waiting[ef]
            if ef != self._current:
                self._index.set_ef(ef)  # no reader is running: safe to change
                self._current = ef
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    def _admissible(self, ef: int) -> bool:
        if ef == self._current:
            # Share, unless a query for another ef is already waiting.
            return self._readers == 0 or not any(e != ef for e in self._waiting)
        return self._readers == 0


@dataclass(eq=False)
class LoadedIndex:
    """One immutable, loaded index version. Thread-safe for queries.

    ``ids`` are the media in this version, minus those deleted since it was built
    (``excluded``): results never contain them.
    """

    feature_id: int
    version: int
    index_type: str
    dim: int
    meta: dict
    ids: np.ndarray
    excluded: np.ndarray
    _hnsw: Any = None
    _vectors: np.ndarray | None = None
    _gate: _EfGate | None = None

    def __post_init__(self) -> None:
        if self._hnsw is not None:
            self._gate = _EfGate(self._hnsw, self.ef or 10)

    @property
    def params(self) -> dict:
        return {k: self.meta.get(k) for k in ("M", "ef_construction", "ef")}

    @property
    def ef(self) -> int:
        return int(self.meta.get("ef") or 0)

    @property
    def count(self) -> int:
        return int(self.ids.size - self.excluded.size)

    @property
    def memory_bytes(self) -> int:
        """Approximate resident size of this index in this process."""
        base = self.ids.nbytes + self.excluded.nbytes
        if self._hnsw is not None:
            return int(base + self._hnsw.index_file_size() + HNSW_OVERHEAD_PER_ELEMENT * self._hnsw.element_count)
        return int(base + (self._vectors.nbytes if self._vectors is not None else 0))

    def __contains__(self, media_id: int) -> bool:
        pos = np.searchsorted(self.ids, media_id)
        return bool(pos < self.ids.size and self.ids[pos] == media_id) and not np.isin(media_id, self.excluded)

    def get_vectors(self, media_ids: Iterable[int]) -> np.ndarray:
        """Stored (normalised) vectors of these media; KeyError for one not in the index."""
        media_ids = np.asarray(list(media_ids), dtype=np.int64)
        missing = [int(m) for m in media_ids if int(m) not in self]
        if missing:
            raise KeyError(f"media {missing[:5]} not in index version {self.version}")
        if self._hnsw is not None:
            return np.asarray(self._hnsw.get_items(media_ids), dtype=np.float32).reshape(-1, self.dim)
        return self._vectors[np.searchsorted(self.ids, media_ids)]

    def live_ids(self) -> np.ndarray:
        """The ids this version answers with (deleted ones left out), sorted."""
        return np.setdiff1d(self.ids, self.excluded, assume_unique=True) if self.excluded.size else self.ids

    def present(self, media_ids: Iterable[int]) -> np.ndarray:
        """Those of ``media_ids`` this version answers with, sorted."""
        wanted = np.unique(np.fromiter((int(m) for m in media_ids), dtype=np.int64))
        return np.setdiff1d(np.intersect1d(self.ids, wanted, assume_unique=True), self.excluded, assume_unique=True)

    def pick(self, digest: int) -> int | None:
        """The live id at ``digest`` modulo their count, in id order."""
        ids = self.live_ids()
        return int(ids[digest % ids.size]) if ids.size else None

    def media_of(self, ids: np.ndarray) -> np.ndarray:
        """Every vector here is a whole media's: its key is its media id."""
        return np.asarray(ids, dtype=np.int64)

    def search(self, vector: np.ndarray, k: int, ef: int | None = None, exclude_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` for one vector: (ids, cosine similarities), 1-D, best first."""
        ids, sims = self.knn(np.asarray(vector, dtype=np.float32).reshape(1, -1), k, ef=ef, exclude_ids=exclude_ids)
        found = ids[0] >= 0
        return ids[0][found], sims[0][found]

    def knn(self, vectors: np.ndarray, k: int, ef: int | None = None, exclude_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest for each row: (ids int64 (n, k), similarities float32 (n, k)).

        Rows with fewer than ``k`` results are padded with id -1 and similarity -inf.
        ``ef`` (hnsw) is raised to at least ``k``; ``exclude_ids`` are left out of the
        results (e.g. the query item itself).
        """
        q = np.ascontiguousarray(vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if q.shape[1] != self.dim:
            raise InvalidInput(f"Query vectors have {q.shape[1]} dimensions; this index has {self.dim}.")
        k = int(k)
        if k < 1:
            raise InvalidInput("k must be at least 1.")
        n = q.shape[0]
        out_ids = np.full((n, k), -1, dtype=np.int64)
        out_sims = np.full((n, k), -np.inf, dtype=np.float32)
        drop = self.excluded
        if exclude_ids is not None:
            drop = np.union1d(drop, np.asarray(list(exclude_ids), dtype=np.int64))
        fetch = min(k + int(drop.size), int(self.ids.size))
        if fetch == 0 or n == 0:
            return out_ids, out_sims
        if self._hnsw is not None:
            labels, sims = self._hnsw_query(q, fetch, max(int(ef or 0), self.ef))
        else:
            labels, sims = self._flat_query(q, fetch)
        for row in range(n):
            row_ids, row_sims = labels[row], sims[row]
            if drop.size:
                keep = ~np.isin(row_ids, drop)
                row_ids, row_sims = row_ids[keep], row_sims[keep]
            m = min(k, row_ids.size)
            out_ids[row, :m] = row_ids[:m]
            out_sims[row, :m] = row_sims[:m]
        return out_ids, out_sims

    def _hnsw_query(self, q: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        threads = 1 if q.shape[0] == 1 else -1
        needed = max(ef, k, self.ef)
        attempt = 0
        while True:
            # Round up to a power of two (never below the saved ef): recall only goes
            # up, and concurrent queries mostly agree on the ef and run together.
            use = self.ef if needed <= self.ef else 1 << (needed - 1).bit_length()
            try:
                with self._gate.using(use):
                    labels, dist = self._hnsw.knn_query(q, k=k, num_threads=threads)
                break
            except RuntimeError:
                # Too few results reachable (many deleted elements): search wider.
                attempt += 1
                if attempt > 3 or use >= self._hnsw.element_count:
                    raise ServiceUnavailable("The index could not return enough results; rebuild it.", code="index_degraded") from None
                needed = use * 4
        return labels.astype(np.int64), (1.0 - dist).astype(np.float32)

    def _flat_query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = q @ self._vectors.T  # (n, N): exact cosine, vectors are normalised
        if k < sims.shape[1]:
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(sims.shape[1]), (sims.shape[0], 1))
        top = np.take_along_axis(sims, part, axis=1)
        # Best first; ties by id so paging is deterministic.
        order = np.lexsort((self.ids[part], -top), axis=1)
        part = np.take_along_axis(part, order, axis=1)
        return self.ids[part], np.take_along_axis(sims, part, axis=1).astype(np.float32)


def load_index_version(feature_id: int, version: int, *, deleted: np.ndarray | None = None) -> LoadedIndex:
    """Load version ``version`` of a feature's index from disk (read-only use)."""
    directory = feature_dir(feature_id)
    meta = read_meta(directory, version)
    if meta is None:
        from search_app.indexing.sharing import pull_version

        # Built on another host: fetch it through the shared storage.
        if pull_version(feature_id, version):
            meta = read_meta(directory, version)
    if meta is None:
        raise IndexMissing(f"Index version {version} of feature {feature_id} is not on disk (was INDEX_DIR moved or cleaned?).")
    paths = version_paths(directory, version, meta["index_type"])
    ids = np.load(paths["ids"]).astype(np.int64, copy=False)
    if deleted is None:
        deleted = VectorStore(directory / "vectors", meta["dim"]).deleted()
    excluded = np.intersect1d(deleted, ids, assume_unique=True)
    if meta["index_type"] == "hnsw":
        import hnswlib

        index = hnswlib.Index(space="cosine", dim=int(meta["dim"]))
        index.load_index(str(paths["data"]))
        return LoadedIndex(feature_id, version, "hnsw", int(meta["dim"]), meta, ids, excluded, _hnsw=index)
    # Memory-mapped: the page cache holds the vectors once for every process that loads
    # this version (the web workers), and a version file is never written again.
    vectors = np.load(paths["data"], mmap_mode="r")
    return LoadedIndex(feature_id, version, "flat", int(meta["dim"]), meta, ids, excluded, _vectors=vectors)


def load_index(feature) -> LoadedIndex:
    """The current index of ``feature`` (a Feature row; re-fetch it for a fresh version).

    IndexNotReady (409 ``index_not_built``) while no version was ever built; a feature
    whose latest build failed still serves its previous version.
    """
    if not feature.index_version:
        raise IndexNotReady(f"Feature {feature.pk} has no index yet (status: {feature.status}).")
    return load_index_version(feature.pk, feature.index_version)

"""Per-feature vector store on local disk: every embedding computed, kept apart from
any index, so an index can be rebuilt (new parameters, compaction, another index type)
without running the model again.

Layout, under ``settings.INDEX_DIR/feature-<id>/vectors/``::

    shard-00000001.npz   ids (int64, n) + vectors (float32, n x dim), append-only
    shard-00000002.npz   ...
    deleted.npy          sorted int64 ids of media that were deleted (never shrinks)
    failed.json          media whose file could not be decoded: {id: {reason, file, at}}
    .lock                flock for read-modify-write of deleted.npy and compaction

Every file is written under a temporary name, fsynced and renamed into place, so a
crash leaves either the old file or the new one. A rerun after a crash may append an
id that an earlier shard already holds (the shard was renamed, the build died before
the index did): loading keeps the first occurrence of each id, so nothing is ever
duplicated. Deleted ids stay in ``deleted.npy`` for good (8 bytes each): media ids are
never reused, and an index version built before a deletion can still be told to drop
them (see search_app.indexing.index.LoadedIndex).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from core.files import atomic_write, atomic_write_bytes, fsync_dir

SHARD_RE = re.compile(r"^shard-(\d{8})\.npz$")


class VectorStore:
    """The stored vectors of one feature (see the module docstring for the layout)."""

    def __init__(self, root: Path, dim: int):
        self.root = Path(root)
        self.dim = int(dim)

    # --- files ---------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.root.is_dir()

    def shard_paths(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in os.scandir(self.root):
            match = SHARD_RE.match(entry.name)
            if match:
                found.append((int(match.group(1)), Path(entry.path)))
        return [p for _, p in sorted(found)]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def remove_temp_files(self) -> None:
        """Drop leftovers of writes that died before their rename."""
        if self.root.is_dir():
            for entry in os.scandir(self.root):
                if entry.name.endswith(".tmp"):
                    Path(entry.path).unlink(missing_ok=True)

    # --- writing ----------------------------------------------------------------------------

    def append(self, ids: np.ndarray, vectors: np.ndarray) -> Path | None:
        """Write one shard (linked into place when complete); returns its path.

        Safe with several writers (a build and an ingest adding vectors it computed):
        the shard is written under a temporary name, then hard-linked to the next free
        number, which fails instead of replacing a shard another writer took a moment
        ago; the next number is tried then.
        """
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if ids.ndim != 1 or vectors.shape != (ids.shape[0], self.dim):
            raise ValueError(f"expected ids (n,) and vectors (n, {self.dim}), got {ids.shape} and {vectors.shape}")
        if ids.size == 0:
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".shard.{os.getpid()}.{threading.get_ident()}.tmp"
        for attempt in range(3):
            try:
                with open(tmp, "wb") as fh:
                    np.savez(fh, ids=ids, vectors=vectors)
                    fh.flush()
                    os.fsync(fh.fileno())
                path = self._link_next(tmp)
                break
            except FileNotFoundError:
                # A build starting meanwhile removed our temporary file as a leftover
                # (remove_temp_files): write it again.
                if attempt == 2:
                    raise
            finally:
                tmp.unlink(missing_ok=True)
        fsync_dir(self.root)
        return path

    def _link_next(self, tmp: Path) -> Path:
        """Hard-link ``tmp`` as the next shard; never replaces an existing one."""
        while True:
            shards = self.shard_paths()
            seq = int(SHARD_RE.match(shards[-1].name).group(1)) + 1 if shards else 1
            path = self.root / f"shard-{seq:08d}.npz"
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                    raise
                # A filesystem without hard links: rename, as a single writer may.
                os.replace(tmp, path)
                return path

    def add_deleted(self, ids) -> int:
        """Record deleted media ids; returns how many were new."""
        ids = np.unique(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64))
        if ids.size == 0:
            return 0
        with self._locked():
            current = self.deleted()
            merged = np.union1d(current, ids)
            added = int(merged.size - current.size)
            if added:
                atomic_write(self.root / "deleted.npy", lambda fh: np.save(fh, merged))
        return added

    def set_failed(self, failed: dict[int, dict]) -> None:
        """Replace the record of media whose decode failed (see :meth:`failed`)."""
        with self._locked():
            if not failed and not (self.root / "failed.json").exists():
                return
            data = json.dumps({str(k): v for k, v in sorted(failed.items())}, sort_keys=True).encode()
            atomic_write_bytes(self.root / "failed.json", data)

    # --- reading ----------------------------------------------------------------------------

    def failed(self) -> dict[int, dict]:
        """Media whose file could not be decoded, by id: why, and the file's size and
        modification time then (``file``, None where the storage does not tell)."""
        try:
            raw = json.loads((self.root / "failed.json").read_bytes())
        except (OSError, ValueError):
            return {}
        return {int(k): v for k, v in raw.items() if isinstance(v, dict)} if isinstance(raw, dict) else {}

    def deleted(self) -> np.ndarray:
        path = self.root / "deleted.npy"
        if not path.is_file():
            return np.zeros(0, dtype=np.int64)
        return np.load(path).astype(np.int64, copy=False)

    def _shard_ids(self) -> list[np.ndarray]:
        out = []
        for path in self.shard_paths():
            with np.load(path) as npz:  # npz members load lazily: only ids are read here
                out.append(npz["ids"])
        return out

    def ids(self) -> np.ndarray:
        """Every id that has a stored vector (deleted ones included), sorted, unique."""
        parts = self._shard_ids()
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def live_ids(self) -> np.ndarray:
        return np.setdiff1d(self.ids(), self.deleted(), assume_unique=True)

    def load(self, only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Live ids (sorted) and their vectors: first occurrence of each id, deleted dropped;
        restricted to the ids in ``only`` when given.

        Reads shard by shard into one preallocated array, so peak memory is the result
        plus one shard.
        """
        paths = self.shard_paths()
        deleted = self.deleted()
        per_shard = self._shard_ids()
        if not per_shard:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        all_ids = np.concatenate(per_shard)
        unique_ids, first = np.unique(all_ids, return_index=True)
        wanted = np.ones(unique_ids.size, dtype=bool)
        if deleted.size:
            wanted &= ~np.isin(unique_ids, deleted, assume_unique=True)
        if only is not None:
            wanted &= np.isin(unique_ids, np.asarray(only, dtype=np.int64))
        keep = first[wanted]
        keep.sort()  # positions in shard order, so each shard is read once
        out_ids = all_ids[keep]
        out_vectors = np.empty((keep.size, self.dim), dtype=np.float32)
        offset = 0
        written = 0
        for path, shard_ids in zip(paths, per_shard, strict=True):
            n = shard_ids.size
            lo = np.searchsorted(keep, offset)
            hi = np.searchsorted(keep, offset + n)
            if hi > lo:
                with np.load(path) as npz:
                    vectors = npz["vectors"]
                if vectors.shape[1] != self.dim:
                    raise ValueError(f"{path} holds {vectors.shape[1]}-d vectors, expected {self.dim}")
                out_vectors[written : written + hi - lo] = vectors[keep[lo:hi] - offset]
                written += hi - lo
            offset += n
        if out_ids.size > 1 and not np.all(out_ids[:-1] < out_ids[1:]):
            # Shards hold ids in build order, usually ascending; sort only when not.
            order = np.argsort(out_ids, kind="stable")
            out_ids, out_vectors = out_ids[order], out_vectors[order]
        return out_ids, out_vectors

    def iter_live(self, only: np.ndarray | None = None, batch: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The vectors :meth:`load` returns, as (ids, vectors) batches of at most ``batch``
        in shard order, one shard in memory at a time: what an index on another engine
        streams into itself (ids ascend within a batch, not across all of them)."""
        paths = self.shard_paths()  # once: an ingest may append shards meanwhile
        per_shard = []
        for path in paths:
            with np.load(path) as npz:
                per_shard.append(npz["ids"])
        if not per_shard:
            return
        all_ids = np.concatenate(per_shard)
        unique_ids, first = np.unique(all_ids, return_index=True)
        wanted = np.ones(unique_ids.size, dtype=bool)
        deleted = self.deleted()
        if deleted.size:
            wanted &= ~np.isin(unique_ids, deleted, assume_unique=True)
        if only is not None:
            wanted &= np.isin(unique_ids, np.asarray(only, dtype=np.int64))
        keep = np.sort(first[wanted])
        del all_ids, unique_ids, first, wanted
        offset = 0
        for path, shard_ids in zip(paths, per_shard, strict=True):
            lo, hi = np.searchsorted(keep, offset), np.searchsorted(keep, offset + shard_ids.size)
            if hi > lo:
                with np.load(path) as npz:
                    vectors = npz["vectors"]
                if vectors.shape[1] != self.dim:
                    raise ValueError(f"{path} holds {vectors.shape[1]}-d vectors, expected {self.dim}")
                rows = keep[lo:hi] - offset
                for start in range(0, rows.size, batch):
                    part = rows[start : start + batch]
                    yield shard_ids[part], np.ascontiguousarray(vectors[part])
            offset += shard_ids.size

    def stats(self) -> dict:
        ids = self.ids()
        deleted = np.intersect1d(ids, self.deleted(), assume_unique=True)
        return {"stored": int(ids.size), "deleted": int(deleted.size), "live": int(ids.size - deleted.size), "shards": len(self.shard_paths())}

    # --- maintenance ------------------------------------------------------------------------

    def compact(self) -> dict:
        """Rewrite the live vectors as one shard and drop the old shards.

        The new shard is renamed into place before any old one is removed, so a crash
        in between leaves duplicates that loading dedupes (same id, same vector).
        """
        with self._locked():
            old = self.shard_paths()
            ids, vectors = self.load()
            new = self.append(ids, vectors) if ids.size else None
            for path in old:
                if path != new:
                    path.unlink(missing_ok=True)
            fsync_dir(self.root)
        return {"live": int(ids.size), "shards_removed": len(old)}

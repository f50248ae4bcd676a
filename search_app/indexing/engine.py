"""Per-process index holder: lazy loading and swap-on-new-version.

hnswlib is not safe to query while items are added or the index is resized, so the
web side never mutates an index: it only holds immutable loaded versions
(``search_app.indexing.index.LoadedIndex``). Every search reads the Feature row (one query) and
compares ``index_version`` with what this process holds:

* nothing loaded yet: load now (one loader per feature; others wait for it);
* an older version loaded: keep answering with it and load the new one in a
  background thread, then swap the reference. There is never a moment in which
  searches fail because an index is being replaced.
"""

from __future__ import annotations

import logging
import threading

from search_app.indexing.backends import SearchIndex, open_index
from search_app.indexing.index import load_index_version
from search_app.models import Feature

logger = logging.getLogger(__name__)

_loaded: dict[int, SearchIndex] = {}
_loading: set[tuple[int, int]] = set()
_locks: dict[int, threading.Lock] = {}
_guard = threading.Lock()


def _lock_for(feature_id: int) -> threading.Lock:
    with _guard:
        return _locks.setdefault(feature_id, threading.Lock())


def _background_load(feature_id: int, version: int) -> None:
    try:
        index = load_index_version(feature_id, version)
        with _guard:
            current = _loaded.get(feature_id)
            if current is None or current.version < index.version or current.index_type == "milvus":
                _loaded[feature_id] = index
        logger.info("feature %s: swapped in index version %s", feature_id, version)
    except Exception:
        logger.exception("feature %s: loading index version %s failed; still serving the old one", feature_id, version)
    finally:
        with _guard:
            _loading.discard((feature_id, version))


def get_index(feature: Feature, *, wait_for_new: bool = False) -> SearchIndex:
    """The index to answer ``feature``'s searches with in this process."""
    if feature.milvus_collection:
        # Served by Milvus: a handle made from the row, nothing to load or swap.
        handle = open_index(feature)
        with _guard:
            _loaded[feature.pk] = handle
        return handle
    current = _loaded.get(feature.pk)
    if current is not None and current.index_type == "milvus":
        current = None  # moved off Milvus: its collection is dropped, load the files now
    version = feature.index_version
    if current is not None and current.version >= version:
        return current
    if current is not None and not wait_for_new:
        with _guard:
            start = (feature.pk, version) not in _loading
            if start:
                _loading.add((feature.pk, version))
        if start:
            threading.Thread(target=_background_load, args=(feature.pk, version), name=f"index-load-{feature.pk}", daemon=True).start()
        return current
    with _lock_for(feature.pk):
        current = _loaded.get(feature.pk)
        if current is None or current.version < version or current.index_type == "milvus":
            current = load_index_version(feature.pk, version)
            with _guard:
                _loaded[feature.pk] = current
    return current


def loaded_indexes() -> dict[int, SearchIndex]:
    """What this process holds now (for search/info)."""
    with _guard:
        return dict(_loaded)


def forget(feature_id: int) -> None:
    with _guard:
        _loaded.pop(feature_id, None)


def clear() -> None:
    """Drop every loaded index (tests)."""
    with _guard:
        _loaded.clear()
        _loading.clear()

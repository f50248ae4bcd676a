"""Index backends, one per index type (see ``base`` for the interface): ``hnsw`` and
``flat`` write index files that every searching process loads (``files``); ``milvus``
keeps the vectors in a Milvus collection that searches go to (``milvus``)."""

from __future__ import annotations

from functools import cache

from search_app.indexing.backends.base import IndexBackend, SearchIndex


@cache
def backend_for(index_type: str) -> IndexBackend:
    """The backend that writes ``index_type``."""
    if index_type == "milvus":
        from search_app.indexing.backends.milvus import MilvusBackend

        return MilvusBackend()
    from search_app.indexing.backends.files import FilesBackend
    from search_app.indexing.index import FILE_INDEX_TYPES, validate_index_type

    if validate_index_type(index_type) not in FILE_INDEX_TYPES:
        raise AssertionError(f"no backend for {index_type!r}")
    return FilesBackend(index_type)


def serving_backend(feature) -> IndexBackend:
    """The backend that holds the version ``feature.index_version`` names, which is not
    ``feature.index_type``'s while a change of type is being built."""
    return backend_for("milvus" if feature.milvus_collection else _file_type(feature))


def _file_type(feature) -> str:
    return feature.index_type if feature.index_type != "milvus" else "hnsw"


def open_index(feature) -> SearchIndex:
    """The index of ``feature.index_version`` (read-only use)."""
    return serving_backend(feature).open(feature)


def prune_after_publish(*, feature, keep: set[int]) -> None:
    """After ``feature`` (its row as the build read it) published a version: drop what no
    version in ``keep`` needs, and the collections of a feature moved off Milvus."""
    backend_for(feature.index_type).prune(feature=feature, keep=keep)
    if feature.milvus_collection and feature.index_type != "milvus":
        backend_for("milvus").drop(feature_id=feature.pk)


def forget_media(feature, media_ids) -> None:
    """Leave deleted media out of the feature's searches now, where its backend can."""
    if feature.milvus_collection:
        backend_for("milvus").forget(feature=feature, media_ids=media_ids)


def drop_feature(*, feature_id: int, index_type: str, milvus_collection: str) -> None:
    """What a deleted feature held outside its data dir (its Milvus collections, a
    half-built one included)."""
    if milvus_collection or index_type == "milvus":
        backend_for("milvus").drop(feature_id=feature_id)


__all__ = ["IndexBackend", "SearchIndex", "backend_for", "drop_feature", "forget_media", "open_index", "prune_after_publish", "serving_backend"]

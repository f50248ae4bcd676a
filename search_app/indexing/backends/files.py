"""Index types ``hnsw`` (hnswlib) and ``flat`` (exact numpy): index files in the data
dir, loaded whole into every process that searches (``search_app.indexing.index``), and
shared between hosts through the default storage (``search_app.indexing.sharing``)."""

from __future__ import annotations

from django.conf import settings

from search_app.indexing import sharing
from search_app.indexing.backends.base import IndexBackend, SearchIndex
from search_app.indexing.index import load_index_version, remove_versions_except, update_index_files
from search_app.indexing.layout import feature_dir


class FilesBackend(IndexBackend):
    def __init__(self, name: str) -> None:
        self.name = name

    def write_version(self, *, feature, store, current_version, new_version, full, reporter, heartbeat) -> dict | None:
        if current_version:
            sharing.pull_version(feature.pk, current_version)  # built elsewhere: update it instead of rebuilding
        meta = update_index_files(
            directory=feature_dir(feature.pk),
            store=store,
            index_type=self.name,
            params=feature.index_params,
            current_version=current_version,
            new_version=new_version,
            full=full,
            threads=int(getattr(settings, "INDEX_THREADS", 0)),
            compact_fraction=float(getattr(settings, "INDEX_COMPACT_FRACTION", 0.2)),
            reporter=reporter,
            extra_meta={"feature_id": feature.pk, "modelzoo_name": feature.modelzoo_name},
            before_rename=heartbeat,
        )
        if meta is None:
            return None
        # Published before the database names the version, so no host looks for it early.
        sharing.push_version(feature.pk, new_version, self.name)
        return {**meta, "row": {"milvus_collection": "", "milvus_version": 0}}

    def prune(self, *, feature, keep: set[int]) -> None:
        remove_versions_except(feature_dir(feature.pk), keep)
        sharing.prune_versions(feature.pk, keep)

    def open(self, feature) -> SearchIndex:
        return load_index_version(feature.pk, feature.index_version)

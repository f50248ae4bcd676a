"""Where a feature's files live, shared by the index files and their sharing through
the storage. Under ``settings.INDEX_DIR/feature-<id>/``::

    index-v<n>.bin | index-v<n>.npy   the hnswlib index, or the flat index's vectors
    index-v<n>.ids.npy                live media ids in the index, sorted (int64)
    index-v<n>.json                   type, dim, M, ef_construction, ef, counts, ...
    vectors/                          the vector store (``indexing.vectors``)
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from search_app.indexing.vectors import VectorStore

VERSION_RE = re.compile(r"^index-v(\d+)\.(bin|npy|ids\.npy|json)$")


def feature_dir(feature_id: int) -> Path:
    return Path(settings.INDEX_DIR) / f"feature-{int(feature_id)}"


def vector_store(feature_id: int, dim: int) -> VectorStore:
    return VectorStore(feature_dir(feature_id) / "vectors", dim)


def version_paths(directory: Path, version: int, index_type: str) -> dict[str, Path]:
    data = f"index-v{version}.bin" if index_type == "hnsw" else f"index-v{version}.npy"
    return {"data": directory / data, "ids": directory / f"index-v{version}.ids.npy", "meta": directory / f"index-v{version}.json"}

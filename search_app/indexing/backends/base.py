"""The index-backend interface: what the build writes through and what a search reads.

A feature's ``index_type`` picks its backend (``backend_for``). Two sides:

* the build side, :class:`IndexBackend`: write the next index version from the
  feature's vector store (incremental where it can, resumable), forget deleted media at
  once where the engine allows it, drop everything of a feature, report health;
* the read side, :class:`SearchIndex`: one opened index version that the ranking layer
  asks for the ``k`` nearest items with growing ``k`` (``knn``/``search``), plus the
  stored vectors of given items (``get_vectors``, ``in``), a deterministic pick for
  random queries (``pick``) and every live id (``live_ids``, for whole-collection work
  on a worker).

Ids are int64 vector keys. A whole media's vector has its media id as key; vectors
that belong to a media without being it (regions of an image, say) carry their owner in
``media_ids`` when written, and ``media_of`` maps keys back to their media: forgetting
a media forgets every vector it owns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SearchIndex(Protocol):
    """One opened index version of a feature; thread-safe for queries."""

    feature_id: int
    version: int
    index_type: str
    dim: int
    meta: dict

    @property
    def count(self) -> int: ...

    @property
    def ef(self) -> int: ...

    @property
    def params(self) -> dict: ...

    @property
    def memory_bytes(self) -> int:
        """What this index holds in this process (0 for an index served elsewhere)."""

    def __contains__(self, media_id: int) -> bool: ...

    def get_vectors(self, media_ids: Iterable[int]) -> np.ndarray:
        """Stored unit vectors of these items; KeyError for one not in the index."""

    def search(self, vector: np.ndarray, k: int, ef: int | None = None, exclude_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` for one vector: (ids, cosine similarities), 1-D, best first."""

    def knn(self, vectors: np.ndarray, k: int, ef: int | None = None, exclude_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest per row, padded with id -1 / similarity -inf."""

    def present(self, media_ids: Iterable[int]) -> np.ndarray:
        """Those of ``media_ids`` the index holds, sorted."""

    def live_ids(self) -> np.ndarray:
        """Every id in the index, sorted (worker-side work over the whole collection)."""

    def pick(self, digest: int) -> int | None:
        """An item chosen by ``digest``: the same digest picks the same item for the
        same data; None when the index is empty."""

    def media_of(self, ids: np.ndarray) -> np.ndarray:
        """The media each key belongs to (itself for a whole media's vector)."""


class IndexBackend(ABC):
    """Writes and opens one kind of index (see the module docstring)."""

    name: str = ""
    #: Whether the engine keeps a feature's region vectors itself, beside the whole ones
    #: (``sync_parts``), instead of the region index files that
    #: ``search_app.indexing.regions`` writes next to a file index.
    holds_parts: bool = False

    @abstractmethod
    def write_version(
        self,
        *,
        feature,
        store,
        current_version: int,
        new_version: int,
        full: bool,
        reporter: Callable[[int, int, str], None] | None,
        heartbeat: Callable[[], None],
    ) -> dict | None:
        """Make ``new_version`` hold the live vectors of ``store``; None when the current
        version already does (nothing written). The returned metadata has ``count``,
        ``mode``, ``added``, ``removed`` and ``row``: Feature fields to set in the same
        UPDATE that raises ``index_version``. ``heartbeat`` raises when the build lost
        its claim; it is called between batches and last before publishing."""

    @abstractmethod
    def prune(self, *, feature, keep: set[int]) -> None:
        """After a version was published: drop what no version in ``keep`` needs."""

    @abstractmethod
    def open(self, feature) -> SearchIndex:
        """The index of ``feature.index_version`` (read-only use)."""

    def forget(self, *, feature, media_ids: np.ndarray) -> None:  # noqa: B027 (optional)
        """Leave these media (and every vector they own) out of searches now, where the
        engine can change a live index; the next build removes them in any case."""

    def drop(self, *, feature_id: int, keep: str = "") -> None:  # noqa: B027 (optional)
        """Remove what this backend holds of a feature outside its data dir (all of it, or
        all but the collection ``keep``)."""

    def sync_parts(
        self,
        *,
        feature,
        meta: dict | None,
        labels: np.ndarray,
        owners: np.ndarray,
        numbers: np.ndarray,
        batches: Callable[[np.ndarray], Iterable[tuple[np.ndarray, np.ndarray]]],
    ) -> int:
        """Only where ``holds_parts``: make the region vectors of the version ``meta``
        describes (None: the current one) exactly ``labels`` (sorted), owned by the media
        ``owners`` as region ``numbers``; ``batches(some)`` yields (labels, vectors) of
        ``some`` of them. Returns how many were written."""
        raise NotImplementedError(f"index type {self.name} keeps no region vectors of its own")

    def health(self, feature) -> dict[str, Any]:
        """Whether the feature's index can answer now, and why not."""
        return {"ok": True}

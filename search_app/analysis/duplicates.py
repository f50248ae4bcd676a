"""Near-duplicate groups of a feature, from its index's k-nearest-neighbour graph.

Every stored vector is queried against the feature's own index (``LoadedIndex.knn``,
batched, ``k`` neighbours each); the edges whose cosine similarity reaches the
threshold are kept and joined with union-find. The cost is n k-NN queries, never
n^2 pairs, so it scales with the index: 100,000 items take seconds (bench/duplicates.py).
A pair is only found when each is among the other's ``k`` nearest or vice versa, so a
group larger than ``k`` is still joined through chains of edges.

A run is stored as two files in the feature's folder, written to a temporary name and
renamed into place (a crash never leaves half a run):

- ``duplicates.npz``: the kept edges (``a``, ``b`` media ids, ``score`` float32);
- ``duplicates.json``: what was run (threshold, k, index version, counts, seconds).

Groups are computed from the edges when read, so a run at threshold 0.9 can be browsed
at any threshold >= 0.9 without running again. Only the latest run is kept; a new run
replaces it. The run only reads the index: curators may start it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.utils import timezone

from core.errors import InvalidInput
from core.files import atomic_write, atomic_write_bytes
from core.reports import csv_chunks
from media_app.models import Media
from search_app.indexing.index import LoadedIndex
from search_app.indexing.layout import feature_dir
from search_app.models import Feature

# The parameters of a run, checked by validate_run_params here and by the serializers of
# the task (search_app.tasks.FindDuplicatesParams) and the API from these same numbers.
# The threshold depends on the model (default_threshold); this is for models not measured.
DEFAULT_THRESHOLD = 0.9
# Measured on the demo library (bench/duplicate_thresholds.py): scenes and their edited
# copies, where the true groups are known. Each is above the highest similarity of two
# unrelated items there (efficientnet_lite0: 0.837, mobilenetv2: 0.899; the random-weight
# models find everything alike) and keeps most copies (lite0 at 0.9: 10 groups of the 10
# with copies, 84% of the true pairs, none wrong). VFRAME_DUPLICATE_THRESHOLDS overrides.
MODEL_THRESHOLDS = {
    "efficientnet_lite0": 0.9,
    "efficientnet_lite1": 0.9,
    "mobilenetv2": 0.93,
    "phash": 0.75,  # at most 8 of 64 bits differ
    "resnet18-random": 0.995,
    "tiny-random": 0.95,
}
MIN_THRESHOLD, MAX_THRESHOLD = -1.0, 1.0  # a cosine similarity
DEFAULT_K = 10
MAX_K = 50
CHUNK = 4096


@dataclass(frozen=True)
class DuplicateGroup:
    """One group: media ids (ascending) and the range of the edge scores that join it."""

    number: int
    media_ids: tuple[int, ...]
    score_min: float
    score_max: float

    @property
    def size(self) -> int:
        return len(self.media_ids)


# --- the graph ----------------------------------------------------------------------------------


def duplicate_edges(
    index: LoadedIndex, *, threshold: float, k: int, chunk: int = CHUNK, reporter: Callable[[int, int, str], None] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges (a < b) between items whose similarity is >= ``threshold``, from
    each item's ``k`` nearest neighbours in ``index``: (a int64, b int64, score float32)."""
    ids = index.live_ids()
    total = int(ids.size)
    parts_a, parts_b, parts_s = [], [], []
    for start in range(0, total, chunk):
        batch = ids[start : start + chunk]
        nn, sims = index.knn(index.get_vectors(batch), min(k + 1, total))
        src = np.repeat(batch, nn.shape[1]).reshape(nn.shape)
        keep = (sims >= threshold) & (nn >= 0) & (nn != src)
        a, b = src[keep], nn[keep]
        parts_a.append(np.minimum(a, b))
        parts_b.append(np.maximum(a, b))
        parts_s.append(sims[keep].astype(np.float32))
        if reporter is not None:
            reporter(min(start + chunk, total), total, "k-NN graph")
    if not parts_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    a, b, s = np.concatenate(parts_a), np.concatenate(parts_b), np.concatenate(parts_s)
    # Each pair is usually found from both ends: keep it once, with its best score.
    order = np.lexsort((-s, b, a))
    a, b, s = a[order], b[order], s[order]
    first = np.ones(a.size, dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[first], b[first], s[first]


def group_edges(a: np.ndarray, b: np.ndarray, s: np.ndarray, *, threshold: float) -> list[DuplicateGroup]:
    """Connected components (union-find) of the edges with score >= ``threshold``;
    groups of two or more, largest first, then by smallest media id."""
    keep = s >= threshold
    a, b, s = a[keep], b[keep], s[keep]
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    members: dict[int, list[int]] = {}
    for x in parent:
        members.setdefault(find(x), []).append(x)
    lo: dict[int, float] = {}
    hi: dict[int, float] = {}
    for x, score in zip(a.tolist(), s.tolist(), strict=True):
        root = find(x)
        lo[root] = min(lo.get(root, 2.0), score)
        hi[root] = max(hi.get(root, -2.0), score)
    roots = sorted(members, key=lambda r: (-len(members[r]), r))
    return [
        DuplicateGroup(number=i + 1, media_ids=tuple(sorted(members[r])), score_min=round(lo[r], 6), score_max=round(hi[r], 6)) for i, r in enumerate(roots)
    ]


# --- runs ---------------------------------------------------------------------------------------


def _paths(feature_id: int) -> tuple[Path, Path]:
    folder = feature_dir(feature_id)
    return folder / "duplicates.json", folder / "duplicates.npz"


def default_threshold(modelzoo_name: str) -> float:
    """The similarity at which a model's items count as near-duplicates when none is
    asked for: the operator's setting, else what the model zoo entry says, else the
    value measured here, else DEFAULT_THRESHOLD."""
    from django.conf import settings

    from modelzoo.registry import MODELS

    configured = getattr(settings, "DUPLICATE_THRESHOLDS", {}).get(modelzoo_name)
    if configured is not None:
        return float(configured)
    listed = getattr(MODELS.get(modelzoo_name), "duplicate_threshold", None)
    if listed is not None:
        return float(listed)
    return MODEL_THRESHOLDS.get(modelzoo_name, DEFAULT_THRESHOLD)


def validate_run_params(*, threshold, k) -> tuple[float, int]:
    """400 naming the field for a threshold outside [MIN_THRESHOLD, MAX_THRESHOLD] or k
    outside [1, MAX_K]."""
    try:
        threshold = float(threshold)
        if not MIN_THRESHOLD <= threshold <= MAX_THRESHOLD:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(
            f"threshold must be a number from {MIN_THRESHOLD:g} to {MAX_THRESHOLD:g}.",
            fields={"threshold": [f"A cosine similarity from {MIN_THRESHOLD:g} to {MAX_THRESHOLD:g}."]},
        ) from None
    try:
        k = int(k)
        if not 1 <= k <= MAX_K:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(f"k must be an integer from 1 to {MAX_K}.", fields={"k": [f"An integer from 1 to {MAX_K}."]}) from None
    return threshold, k


def feature_duplicate_groups(
    *, feature: Feature, threshold: float | None = None, k: int = DEFAULT_K, reporter: Callable[[int, int, str], None] | None = None
) -> dict:
    """Find the near-duplicate edges of ``feature``'s current index and store them as its
    latest run (replacing the previous one); ``threshold`` None is the model's default.
    Idempotent: the same index and parameters give the same run. Returns the run's
    description (what ``duplicates.json`` holds)."""
    from search_app.indexing import engine
    from search_app.selectors import check_searchable

    if threshold is None:
        threshold = default_threshold(feature.modelzoo_name)
    threshold, k = validate_run_params(threshold=threshold, k=k)
    check_searchable(feature)
    index = engine.get_index(feature)
    t0 = time.perf_counter()
    a, b, s = duplicate_edges(index, threshold=threshold, k=k, reporter=reporter)
    groups = group_edges(a, b, s, threshold=threshold)
    seconds = time.perf_counter() - t0
    meta = {
        "feature_id": feature.pk,
        "modelzoo_name": feature.modelzoo_name,
        "index_version": index.version,
        "threshold": threshold,
        "k": k,
        "item_count": index.count,
        "edge_count": int(a.size),
        "group_count": len(groups),
        "grouped_items": sum(g.size for g in groups),
        "seconds": round(seconds, 3),
        "created_at": timezone.now().isoformat(),
    }
    meta_path, edges_path = _paths(feature.pk)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    # Edges first: a reader goes by the meta file, which names a run only once its edges exist.
    atomic_write(edges_path, lambda fh: np.savez(fh, a=a, b=b, score=s))
    atomic_write_bytes(meta_path, json.dumps(meta, indent=1).encode())
    return meta


# --- reads --------------------------------------------------------------------------------------


def duplicate_run_get(*, feature_id: int) -> dict | None:
    """The latest run's description, or None when the feature has none."""
    meta_path, _ = _paths(feature_id)
    try:
        return json.loads(meta_path.read_text())
    except (FileNotFoundError, ValueError):
        return None


@lru_cache(maxsize=16)
def _groups_cached(feature_id: int, created_at: str, threshold: float) -> tuple[tuple[DuplicateGroup, ...], dict[int, int]]:
    _, edges_path = _paths(feature_id)
    with np.load(edges_path) as data:
        groups = group_edges(data["a"], data["b"], data["score"], threshold=threshold)
    where = {m: i for i, g in enumerate(groups) for m in g.media_ids}
    return tuple(groups), where


def duplicate_groups(*, feature_id: int, threshold: float | None = None) -> tuple[dict | None, float, tuple[DuplicateGroup, ...], dict[int, int]]:
    """(run, threshold used, groups, media id -> position in groups) of the latest run,
    at ``threshold`` (default: the run's own; lower than the run's is a 400, since the
    run kept no edges below its threshold)."""
    run = duplicate_run_get(feature_id=feature_id)
    if run is None:
        if threshold is None:
            modelzoo_name = Feature.objects.filter(pk=feature_id).values_list("modelzoo_name", flat=True).first()
            threshold = default_threshold(modelzoo_name) if modelzoo_name else DEFAULT_THRESHOLD
        return None, float(threshold), (), {}
    used = float(run["threshold"]) if threshold is None else float(threshold)
    if used < float(run["threshold"]) - 1e-9:
        raise InvalidInput(
            f"The latest run kept pairs from {run['threshold']} up; start a run with a lower threshold to browse at {used}.",
            fields={"threshold": [f"At least {run['threshold']} for the latest run."]},
        )
    try:
        groups, where = _groups_cached(feature_id, run["created_at"], used)
    except FileNotFoundError:
        return None, used, (), {}
    return run, used, groups, where


CSV_FIELDS = ["group", "size", "score_min", "score_max", "media_id", "sha256", "original_name"]


def duplicate_groups_csv(groups: Iterable[DuplicateGroup]) -> Iterator[str]:
    """Every group and member (no paging) as CSV text, header first. File names come from
    users: csv_chunks neutralises spreadsheet formulas in them."""
    groups = list(groups)
    ids = [m for g in groups for m in g.media_ids]
    facts: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), 5000):
        facts.update((pk, (sha, name)) for pk, sha, name in Media.objects.filter(pk__in=ids[start : start + 5000]).values_list("pk", "sha256", "original_name"))

    def rows() -> Iterator[list]:
        yield CSV_FIELDS
        for g in groups:
            for m in g.media_ids:
                sha, name = facts.get(m, ("", ""))
                yield [g.number, g.size, g.score_min, g.score_max, m, sha, name]

    return csv_chunks(rows())


def media_duplicates(*, feature: Feature, media_id: int, threshold: float | None = None) -> tuple[dict | None, float, DuplicateGroup | None, dict[int, float]]:
    """The group of ``media_id`` in the feature's latest run, and each other member's
    cosine similarity to it (from the stored vectors; None for one no longer indexed)."""
    from search_app.indexing import engine

    run, used, groups, where = duplicate_groups(feature_id=feature.pk, threshold=threshold)
    pos = where.get(int(media_id))
    if pos is None:
        return run, used, None, {}
    group = groups[pos]
    others = [m for m in group.media_ids if m != media_id]
    scores: dict[int, float] = {}
    if feature.index_version:
        index = engine.get_index(feature)
        if media_id in index:
            present = [m for m in others if m in index]
            if present:
                sims = index.get_vectors(present) @ index.get_vectors([media_id])[0]
                scores = {m: round(float(v), 6) for m, v in zip(present, sims.tolist(), strict=True)}
    return run, used, group, scores


# --- reviews ------------------------------------------------------------------------------------
# A curator marks a group reviewed, optionally naming the one member to keep (the others
# are then copies of it; nothing is deleted: they stay evidence). A review belongs to
# the group's members, not to its number, which changes with the threshold; it is kept in
# the feature's folder beside the run, so another run keeps the reviews of unchanged groups.


def group_key(media_ids: Iterable[int]) -> str:
    """A group's identity: its member ids, ascending."""
    return ",".join(str(m) for m in sorted({int(m) for m in media_ids}))


def _reviews_path(feature_id: int) -> Path:
    return feature_dir(feature_id) / "duplicates-reviews.json"


def duplicate_reviews(*, feature_id: int) -> dict[str, dict]:
    """Reviews of the feature's groups by group_key: reviewed_by, reviewed_at, keep."""
    try:
        reviews = json.loads(_reviews_path(feature_id).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return reviews if isinstance(reviews, dict) else {}


def duplicate_review_set(*, feature: Feature, media_ids: Iterable[int], reviewed: bool = True, keep: int | None = None, username: str = "") -> dict | None:
    """Mark the group of ``media_ids`` reviewed by ``username`` (``keep``: the member to
    keep, or None), or unmark it with ``reviewed=False``; returns the review or None.
    Idempotent. Writers queue on a lock file and the file is replaced atomically, so two
    curators reviewing at once lose neither review."""
    import fcntl

    ids = sorted({int(m) for m in media_ids})
    if len(ids) < 2:
        raise InvalidInput("A group has at least two media.", fields={"media_ids": ["At least two media ids."]})
    if Media.objects.filter(pk__in=ids).count() != len(ids):
        raise InvalidInput("Some of these media do not exist.", fields={"media_ids": ["Unknown media id."]})
    if keep is not None and int(keep) not in ids:
        raise InvalidInput(f"Media {keep} is not in the group.", fields={"keep": ["Not a member of the group."]})
    path = _reviews_path(feature.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = group_key(ids)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reviews = duplicate_reviews(feature_id=feature.pk)
        if reviewed:
            reviews[key] = {"reviewed_by": username, "reviewed_at": timezone.now().isoformat(), "keep": None if keep is None else int(keep)}
        else:
            reviews.pop(key, None)
        atomic_write_bytes(path, json.dumps(reviews, indent=1, sort_keys=True).encode())
    return reviews.get(key)

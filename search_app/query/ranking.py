"""Turning k-NN answers into exact, stable pages.

Each score stays with the item it was computed for, and offset/limit always page
exactly: a query's results are one ordered list, and every page is a slice of it:

* The list is built in blocks of growing depth (``BLOCKS``). Block *n* is block *n-1*
  followed by the items that the deeper k-NN query found and block *n-1* did not,
  by score. So the list for a shallow page is always a prefix of the list for a deep
  page: page 2 continues page 1 with no overlap or gap, whatever the index returns.
* Each block is queried with ``ef >= k``, so deep pages keep their recall.
* Self-exclusion, filters and video grouping are applied to the list in order, which
  keeps them prefix-stable too; when too few items survive, the next block is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# Depths at which the index is queried. The first covers the first two pages of 30
# with one k-NN call at the index's own ef (no exclusive ef change); deeper pages are
# rarer and pay more.
BLOCKS: tuple[int, ...] = (64, 256, 1024, 4096)

KnnFn = Callable[[int, int], tuple[np.ndarray, np.ndarray]]
"""knn(k, ef) -> (ids int64, cosine similarities float32), best first."""


@dataclass(frozen=True)
class Candidate:
    media_id: int
    score: float


def stable_candidates(knn: KnnFn, *, depth: int, index_count: int, ef_floor: int) -> list[Candidate]:
    """The query's ordered candidate list, at least ``depth`` long where the index has
    that many items; prefix-stable across depths (see module docstring)."""
    result: list[Candidate] = []
    seen: set[int] = set()
    for block in BLOCKS:
        k = min(block, index_count)
        if k <= len(result):
            break
        ids, scores = knn(k, max(ef_floor, k))
        fresh = [(int(i), float(s)) for i, s in zip(ids, scores, strict=True) if int(i) not in seen]
        fresh.sort(key=lambda pair: (-pair[1], pair[0]))
        for media_id, score in fresh[: k - len(result)]:
            seen.add(media_id)
            result.append(Candidate(media_id, score))
        if len(result) >= depth or k >= index_count:
            break
    return result


def max_depth() -> int:
    return BLOCKS[-1]


@dataclass(frozen=True)
class MediaFacts:
    """What filters need to know about a candidate, fetched in one query per block."""

    media_type: str
    parent_id: int | None


def select_page(
    candidates: Sequence[Candidate],
    *,
    facts: dict[int, MediaFacts],
    exclude_ids: Iterable[int] = (),
    media_type: str | None = None,
    in_collection: set[int] | None = None,
    min_score: float | None = None,
    group_video: bool = False,
) -> list[Candidate]:
    """Apply exclusion, filters and grouping, in list order. Candidates missing from
    ``facts`` (deleted since the index was built) are dropped."""
    excluded = set(exclude_ids)
    groups_seen: set[int] = set()
    kept: list[Candidate] = []
    for cand in candidates:
        fact = facts.get(cand.media_id)
        if fact is None or cand.media_id in excluded:
            continue
        if media_type is not None and fact.media_type != media_type:
            continue
        if in_collection is not None and cand.media_id not in in_collection:
            continue
        if min_score is not None and cand.score < min_score:
            continue
        if group_video:
            key = fact.parent_id if fact.parent_id is not None else cand.media_id
            if key in groups_seen:
                continue
            groups_seen.add(key)
        kept.append(cand)
    return kept

"""Reads of stored detections: a media's boxes, and media found by label."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max, QuerySet

from media_app.models import Media
from search_app.hooks import collection_members
from search_app.models import Detection


def detection_as_dict(d: Detection) -> dict[str, Any]:
    return {"model": d.feature.modelzoo_name, "label": d.label, "label_id": d.label_id, "score": round(d.score, 4), "box": [d.x1, d.y1, d.x2, d.y2]}


def media_detections(*, media_ids: list[int], label: str | None = None, min_score: float = 0.0) -> dict[int, list[dict[str, Any]]]:
    """The stored boxes of each media (best first), optionally of one label only."""
    qs = Detection.objects.filter(media_id__in=media_ids, score__gte=min_score).select_related("feature").order_by("media_id", "-score", "pk")
    if label is not None:
        qs = qs.filter(label=label)
    out: dict[int, list[dict[str, Any]]] = {mid: [] for mid in media_ids}
    for d in qs:
        out[d.media_id].append(detection_as_dict(d))
    return out


@dataclass
class LabelPage:
    """One page of media with a detection of a label: each with its best score and
    the matching boxes; ``count`` is the exact number of such media."""

    label: str
    min_score: float
    model: str | None
    offset: int
    limit: int
    count: int
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.results) < self.count


def _matching(*, label: str, min_score: float, model: str | None, media_type: str | None, collection_id: int | None) -> QuerySet:
    qs = Detection.objects.filter(label=label, score__gte=min_score)
    if model:
        qs = qs.filter(feature__modelzoo_name=model)
    if media_type:
        qs = qs.filter(media__media_type=media_type)
    if collection_id is not None:
        members = collection_members(collection_id)
        qs = qs.filter(media_id__in=members if members is not None else [])
    return qs


def detection_search(
    *,
    label: str,
    min_score: float = 0.0,
    model: str | None = None,
    media_type: str | None = None,
    collection_id: int | None = None,
    offset: int = 0,
    limit: int = 30,
) -> LabelPage:
    """Media with a stored box of ``label`` scoring at least ``min_score``, best score
    first (then by id, so pages are stable)."""
    qs = _matching(label=label, min_score=min_score, model=model, media_type=media_type, collection_id=collection_id)
    best = qs.values("media_id").annotate(best=Max("score")).order_by("-best", "media_id")
    count = best.count()
    rows = list(best[offset : offset + limit])
    ids = [row["media_id"] for row in rows]
    media = Media.objects.in_bulk(ids)
    boxes = media_detections(media_ids=ids, label=label, min_score=min_score)
    page = LabelPage(label=label, min_score=min_score, model=model, offset=offset, limit=limit, count=count)
    for rank, row in enumerate(rows, start=offset + 1):
        item = media.get(row["media_id"])
        if item is None:  # deleted between the two reads
            continue
        found = [d for d in boxes[row["media_id"]] if not model or d["model"] == model]
        page.results.append({"rank": rank, "score": round(row["best"], 4), "media": item, "detections": found})
    return page

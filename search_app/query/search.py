"""Similarity search: rank the collection against a query with a feature's index and
return one exact page.

One entry point, :func:`search_run`, serves every kind of query (the sources of
:mod:`search_app.query.sources`) and every route, so they page, filter and score alike.
Scores are cosine similarities (higher is closer) taken from the same k-NN answer as the
ids, so a score always belongs to its own item. Paging is :mod:`search_app.query.ranking`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.errors import Conflict, InvalidInput
from media_app.models import Media
from search_app.hooks import collection_members
from search_app.indexing import engine
from search_app.indexing.index import LoadedIndex
from search_app.models import Feature
from search_app.query import matching
from search_app.query.detections import query_detections
from search_app.query.ranking import Candidate, MediaFacts, select_page, stable_candidates
from search_app.query.sources import QuerySource, RegionSource
from search_app.selectors import feature_for_search

# Deepest result reachable by paging (offset + limit).
MAX_DEPTH = 4096
# A source limiting the results to at most this many media (words) is scored exactly
# over them instead of through the index's approximate neighbours.
EXACT_ALLOWED_MAX = 50_000
# Pages ending this deep or less load their candidates' rows in the first query.
ROWS_FIRST_DEPTH = 64


@dataclass
class SearchOptions:
    offset: int = 0
    limit: int = 30
    include_self: bool = False
    media_type: str | None = None
    collection_id: int | None = None
    min_score: float | None = None
    group_video: bool = False
    feature_id: int | None = None
    # Region search: (x1, y1, x2, y2) normalised to the upright query image.
    box: tuple[float, float, float, float] | None = None


@dataclass
class SearchOutcome:
    feature: Feature
    index: LoadedIndex
    # The query as searched: resolved (a random pick names its media), and a region of
    # it when the options asked for a box.
    source: QuerySource
    hits: list[Candidate]
    media: dict[int, Media]
    timing_ms: dict[str, float] = field(default_factory=dict)
    detections: dict | None = None
    exhausted: bool = False
    # media id -> query.matching.Match: the label and the matched region of each hit.
    matches: dict = field(default_factory=dict)


def _facts(ids: list[int]) -> dict[int, MediaFacts]:
    rows = Media.objects.filter(pk__in=ids).values_list("pk", "media_type", "parent_id")
    return {pk: MediaFacts(media_type=mt, parent_id=parent) for pk, mt, parent in rows}


def search_run(*, source: QuerySource, options: SearchOptions) -> SearchOutcome:
    """Rank the collection against ``source`` (its region ``options.box`` when given) and
    return one exact page."""
    t0 = time.perf_counter()
    feature = feature_for_search(feature_id=options.feature_id)
    index = engine.get_index(feature)
    t_load = time.perf_counter()
    if index.count == 0:
        raise Conflict(f"Feature {feature.pk}'s index is empty: ingest media first.", code="index_empty")
    source = source.resolve(feature=feature, index=index)
    if options.box is not None:
        source = RegionSource(source, options.box)
    vector = source.vector(feature, index)
    t_vec = time.perf_counter()

    exclude = set() if options.include_self else source.self_ids()
    in_collection = None
    if options.collection_id is not None:
        members = collection_members(options.collection_id)
        if members is None:
            raise InvalidInput(f"No collection with id {options.collection_id}.", fields={"collection": ["No such collection."]})
        in_collection = set(members)
    allowed = source.allowed_ids()  # an image query filtered by words
    if allowed is not None:
        in_collection = allowed if in_collection is None else in_collection & allowed
    need = options.offset + options.limit
    # The top of every list is checked and grouped by match label before any page is
    # cut from it, so every page is a slice of the same list.
    want = max(need, matching.VERIFY_TOP)

    exact_allowed = allowed is not None and len(allowed) <= EXACT_ALLOWED_MAX
    plan = matching.plan_search(source=source, feature=feature, index=index, vector=vector, use_parts=not exact_allowed)
    if exact_allowed:
        knn = _exact_knn(index, vector, allowed)
    else:
        knn = plan.knn

    kept: list[Candidate] = []
    depth = want + len(exclude)
    knn_ms = 0.0
    facts: dict[int, MediaFacts] = {}
    fetched: set[int] = set()
    media: dict[int, Media] = {}
    # The common search (no filter that reads the rows, a page near the top): the rows
    # of the leading candidates are both what the filters need and the page, so the
    # hits cost one query. Otherwise facts first, then the rows of the page.
    rows_first = options.media_type is None and not options.group_video and want <= ROWS_FIRST_DEPTH
    exhausted = False
    while True:
        tk = time.perf_counter()
        candidates = stable_candidates(knn, depth=depth, index_count=index.count, ef_floor=index.ef)
        knn_ms += (time.perf_counter() - tk) * 1000
        scope = candidates
        if rows_first:
            rows_first = False
            head = [c.media_id for c in candidates if c.media_id not in exclude][:want]
            media.update((m.pk, m) for m in _result_media(head))
            facts.update((pk, MediaFacts(media_type=m.media_type, parent_id=m.parent_id)) for pk, m in media.items())
            fetched.update(head)
            # Judge only the candidates up to the last of the head; the rest are unknown.
            last = max((i for i, c in enumerate(candidates) if c.media_id in fetched), default=-1)
            scope = candidates[: last + 1]
        else:
            missing = [c.media_id for c in candidates if c.media_id not in fetched]
            if missing:
                facts.update(_facts(missing))
                fetched.update(missing)
        kept = select_page(
            scope,
            facts=facts,
            exclude_ids=exclude,
            media_type=options.media_type,
            in_collection=in_collection,
            min_score=options.min_score,
            group_video=options.group_video,
        )
        if len(kept) >= want:
            break
        if scope is not candidates:
            continue  # deleted or filtered items in the head: fetch the rest, same depth
        if len(candidates) >= index.count or depth >= MAX_DEPTH:
            exhausted = True
            break
        depth = min(MAX_DEPTH, depth * 4)
    t_rank = time.perf_counter()
    # The rows of the page and of the top (labels and the geometric check read them),
    # in one query: the page is among them.
    labelled = kept[: matching.VERIFY_TOP] + kept[max(options.offset, matching.VERIFY_TOP) : need]
    missing_rows = [c.media_id for c in labelled if c.media_id not in media]
    if missing_rows:
        media.update((m.pk, m) for m in _result_media(missing_rows))
    kept = plan.finish(kept, rows=media, verify=options.offset < matching.VERIFY_TOP, label_only=labelled)
    page = kept[options.offset : need]
    t_match = time.perf_counter()

    media = {c.media_id: media[c.media_id] for c in page if c.media_id in media}
    detections = query_detections(source=source, model=getattr(feature, "search_detection_model", None))
    t_end = time.perf_counter()
    return SearchOutcome(
        feature=feature,
        index=index,
        source=source,
        hits=page,
        media=media,
        exhausted=exhausted,
        detections=detections,
        matches={c.media_id: plan.matches[c.media_id] for c in page if c.media_id in plan.matches},
        timing_ms={
            "total": round((t_end - t0) * 1000, 2),
            "index_load": round((t_load - t0) * 1000, 2),
            "query_vector": round((t_vec - t_load) * 1000, 2),
            "knn": round(knn_ms, 2),
            "rank": round((t_rank - t_vec) * 1000, 2),
            "match": round((t_match - t_rank) * 1000, 2),
            **plan.timing_ms,
        },
    )


def _exact_knn(index: LoadedIndex, vector, allowed: set[int]):
    """A knn over only ``allowed`` (the pictures whose words match), scored exactly:
    every one of them can be reached by paging, not only those among the nearest
    MAX_DEPTH of the whole index."""
    import numpy as np

    ids = index.present(allowed)
    scores = index.get_vectors(ids) @ vector if ids.size else np.zeros(0, dtype=np.float32)
    order = np.lexsort((ids, -scores))
    ids, scores = ids[order], scores[order].astype(np.float32)
    return lambda k, ef: (ids[:k], scores[:k])


def _result_media(ids: list[int]) -> list[Media]:
    from media_app.selectors import media_by_ids

    return media_by_ids(ids)

"""Word searches: one exact page of pictures whose text or labels match, logged like
every other search.

``mode=words`` (the default) asks text_app's full-text index; ``mode=clip`` embeds the
words with the text tower of a CLIP-style feature and searches its image index through
:func:`~search_app.query.search.search_run`, like an image query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from core.errors import InvalidInput
from media_app.models import Media
from search_app.hooks import collection_members
from search_app.query import records
from search_app.query.ranking import Candidate
from search_app.query.search import SearchOptions, SearchOutcome, search_run
from search_app.query.sources import TextSource
from text_app.fulltext import Filters
from text_app.query import WordsQuery, parse_query
from text_app.selectors import WordsHit, label_classes, words_count, words_search

# What a words search records as its "model" and "index" (SearchRecord's columns).
WORDS_INDEX_TYPE = "fulltext"


@dataclass
class TextSearchOptions:
    """A word search: the words (``q``) and/or a label, the mode, and the filters and
    page every search has (``page``)."""

    page: SearchOptions
    q: str = ""
    label: str = ""
    mode: str = "words"
    created_from: datetime | None = None
    created_before: datetime | None = None
    date_params: dict[str, str] = field(default_factory=dict)


@dataclass
class TextOutcome:
    """What a words search answered, shaped like a SearchOutcome (the record and the
    answer read the same attributes); ``words`` holds each hit's matching lines and
    labels, ``feature`` is None for a words search (no feature is involved)."""

    source: TextSource
    hits: list[Candidate]
    media: dict[int, Media]
    words: dict[int, WordsHit]
    exhausted: bool
    index_count: int
    engine: str
    feature: Any = None
    index: Any = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    detections: dict | None = None


def _filters(options: TextSearchOptions) -> Filters:
    ids_sql = None
    if options.page.collection_id is not None:
        members = collection_members(options.page.collection_id)
        if members is None:
            raise InvalidInput(f"No collection with id {options.page.collection_id}.", fields={"collection": ["No such collection."]})
        query = getattr(members, "query", None)
        if query is not None:
            ids_sql = query.sql_with_params()
        else:  # a provider that answers a plain list
            ids = [int(i) for i in members] or [0]
            ids_sql = (", ".join(["%s"] * len(ids)), tuple(ids))
    return Filters(media_type=options.page.media_type, created_from=options.created_from, created_before=options.created_before, media_ids_sql=ids_sql)


def _words_engine(label_ids: list[int], query: WordsQuery | None) -> str:
    from modelzoo.labels import label_model_name
    from text_app.ocr import engine_name

    if label_ids and query is None:
        return label_model_name()
    if label_ids:
        return f"{label_model_name()} + {engine_name()}"
    return engine_name()


def text_search_run(*, options: TextSearchOptions) -> TextOutcome | SearchOutcome:
    """Search by words (see the module docstring); InvalidInput (400) for a bad query,
    an unknown label or a filter that does not apply."""
    source = TextSource(options.q, mode=options.mode, label=options.label, params=options.date_params)
    if options.mode == "clip":
        if not options.q.strip():
            raise InvalidInput("The query is empty: give the words to look for.", fields={"q": ["The query is empty: give the words to look for."]})
        if options.label:
            raise InvalidInput("label= searches labels (mode=words); a CLIP search takes only q.", fields={"label": ["Not with mode=clip."]})
        if options.created_from or options.created_before:
            raise InvalidInput("Date filters apply to words searches (mode=words).", fields={"date_from": ["Not with mode=clip."]})
        parse_query(options.q)  # the same limits on what is accepted
        return search_run(source=source, options=_clip_options(options.page))
    t0 = time.perf_counter()
    query = parse_query(options.q) if options.q.strip() or not options.label else None
    label_ids = label_classes(options.label) if options.label else []
    if options.page.min_score is not None and not label_ids:
        raise InvalidInput("min_score applies to label searches (their probability).", fields={"min_score": ["Only with label."]})
    filters = _filters(options)
    page = options.page
    result = words_search(query=query, label_ids=label_ids, filters=filters, min_score=page.min_score, offset=page.offset, limit=page.limit)
    t_rank = time.perf_counter()
    from media_app.selectors import media_queryset

    rows = {m.pk: m for m in media_queryset().filter(pk__in=[h.media_id for h in result.hits])}
    hits = [Candidate(h.media_id, h.score) for h in result.hits if h.media_id in rows]
    t_end = time.perf_counter()
    engine = _words_engine(label_ids, query)
    count = words_count()
    return TextOutcome(
        source=source,
        hits=hits,
        media=rows,
        words={h.media_id: h for h in result.hits},
        exhausted=not result.has_more,
        index_count=count,
        engine=engine,
        feature=SimpleNamespace(pk=0, modelzoo_name=engine),
        index=SimpleNamespace(index_type=WORDS_INDEX_TYPE, version=0, count=count),
        timing_ms={"total": round((t_end - t0) * 1000, 2), "rank": round((t_rank - t0) * 1000, 2)},
    )


def _clip_options(page: SearchOptions) -> SearchOptions:
    """The page options with the CLIP feature to search; its model is loaded first, so
    missing weights are a 503 weights_missing whatever state its index is in."""
    from search_app.query.sources import embedder
    from search_app.selectors import feature_get
    from search_app.text.clip import clip_feature

    feature = clip_feature() if page.feature_id is None else feature_get(feature_id=page.feature_id)
    page.feature_id = feature.pk
    embedder(feature)
    return page


def text_search_record(*, outcome: TextOutcome | SearchOutcome, options: TextSearchOptions, user) -> Any:
    """Log the search (the one record writer every search uses)."""
    return records.search_record_create(outcome=outcome, options=options.page, route="text", user=user)

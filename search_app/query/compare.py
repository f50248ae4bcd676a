"""Side-by-side scores: each hit of a search scored under a second feature too.

A search ranks with one feature; an investigator often wants to know, for the same
hits, what another feature says (the perceptual hash next to a neural embedding: "is
this the same file re-encoded, or only a similar scene?"). The second score is the
cosine between the query's vector and each hit's stored vector under the other feature
(``LoadedIndex.get_vectors``), so it costs no k-NN search and no model forward for
indexed media; a hit the other feature has not indexed scores ``None``.
"""

from __future__ import annotations

import numpy as np

from core.errors import InvalidInput, NotFound
from search_app.indexing import engine
from search_app.models import Feature
from search_app.query.search import SearchOutcome
from search_app.selectors import check_searchable, feature_get


def compare_feature_get(feature_id: int) -> Feature:
    """The feature to compare with; 400 naming the parameter when it does not exist."""
    try:
        feature = feature_get(feature_id=feature_id)
    except NotFound as exc:
        raise InvalidInput(exc.message, fields={"compare_feature": [exc.message]}) from None
    check_searchable(feature)
    return feature


def hit_scores(*, outcome: SearchOutcome, compare_feature_id: int) -> dict[int, dict[str, float | None]]:
    """For each hit: ``{"<search feature id>": score, "<compare feature id>": cosine or None}``.
    The query's vector under the other feature comes from the same source the search
    used, so a region search compares the same crop embedded under the other feature."""
    primary = str(outcome.feature.pk)
    scores = {hit.media_id: {primary: round(float(hit.score), 6)} for hit in outcome.hits}
    if compare_feature_id == outcome.feature.pk:
        return scores
    other = compare_feature_get(compare_feature_id)
    index = engine.get_index(other)
    q = outcome.source.vector(other, index)
    present = [hit.media_id for hit in outcome.hits if hit.media_id in index]
    sims = index.get_vectors(present) @ np.asarray(q, dtype=np.float32) if present else np.zeros(0)
    by_id = dict(zip(present, sims.tolist(), strict=True))
    key = str(other.pk)
    for media_id, entry in scores.items():
        value = by_id.get(media_id)
        entry[key] = None if value is None else round(float(value), 6)
    return scores

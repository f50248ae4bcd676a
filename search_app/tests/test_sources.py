"""Query sources: a new kind of query is one subclass, and a recorded search is rerun
the way it was asked."""

from __future__ import annotations

import numpy as np
import pytest

from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import FeatureStatus, SearchRecord
from search_app.query.records import search_record_as_dict, search_record_create
from search_app.query.search import SearchOptions, search_run
from search_app.query.sources import QuerySource, query_types, rerun_path


@pytest.fixture
def registry():
    """Lets a test define a kind of query and removes it afterwards."""
    before = dict(QuerySource.registry)
    yield QuerySource.registry
    QuerySource.registry.clear()
    QuerySource.registry.update(before)


@pytest.fixture
def built(make_media, tiny_feature):
    engine.clear()
    media = [make_media(seed) for seed in range(12)]
    feature = tiny_feature(index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY
    yield feature, media
    engine.clear()


def test_a_new_kind_of_query_is_one_subclass_that_searches_records_and_reruns(registry, built, user):
    feature, media = built

    class NeighbourSource(QuerySource):
        """Searches with the stored vector of a media, which stays in the results."""

        kind = "neighbour"

        def __init__(self, media_id: int) -> None:
            self.media_id = media_id

        def vector(self, feature, index):
            return index.get_vectors([self.media_id])[0]

        def record_params(self):
            return {"of": self.media_id}

        @classmethod
        def rerun_path(cls, record):
            return "/api/v1/search/neighbour/" if record.query_type == cls.kind else None

    assert registry["neighbour"] is NeighbourSource
    assert query_types() == ["media", "upload", "text", "neighbour"]

    options = SearchOptions(limit=3)
    outcome = search_run(source=NeighbourSource(media[4].pk), options=options)
    assert outcome.hits[0].media_id == media[4].pk and outcome.hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert outcome.source.describe() == {"type": "neighbour", "seed": None, "media": None, "upload": None, "box": None}
    assert outcome.detections is None

    record = search_record_create(outcome=outcome, options=options, route="neighbour", user=user)
    assert record.query_type == "neighbour" and record.query_media_id is None and record.params["of"] == media[4].pk
    rerun = search_record_as_dict(record)["rerun"]
    assert rerun.startswith("/api/v1/search/neighbour/?") and f"of={media[4].pk}" in rerun


def test_the_built_in_kinds_answer_as_media_upload_or_text():
    assert query_types() == ["media", "upload", "text"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"route": "random", "query_type": "media", "query_media_id": 5, "seed": "abc"}, "/api/v1/search/random/abc/"),
        ({"route": "media", "query_type": "media", "query_media_id": 5}, "/api/v1/search/media/5/"),
        ({"route": "sha256", "query_type": "media", "query_media_id": 5}, "/api/v1/search/media/5/"),
        ({"route": "sha256", "query_type": "upload", "query_upload_id": 7}, "/api/v1/search/upload/7/"),
        ({"route": "batch", "query_type": "upload", "query_upload_id": 7}, "/api/v1/search/upload/7/"),
        ({"route": "media", "query_type": "media"}, "/api/v1/search/sha256/" + "ab" * 32 + "/"),
    ],
)
def test_a_recorded_search_is_rerun_the_way_it_was_asked(fields, path):
    record = SearchRecord(query_sha256="ab" * 32, feature_id=1, index_version=1, **fields)
    assert rerun_path(record) == path


def test_a_region_of_a_source_is_that_source_cropped(built):
    from search_app.query.sources import MediaSource, RegionSource

    feature, media = built
    index = engine.get_index(feature)
    whole = MediaSource(media[2])
    region = RegionSource(whole, (0.0, 0.0, 0.5, 1.0))
    assert region.type == "media" and region.self_ids() == {media[2].pk} and region.image() == media[2]
    assert region.record_fields()["box"] == [0.0, 0.0, 0.5, 1.0] and region.record_fields()["query_media_id"] == media[2].pk
    vec = region.vector(feature, index)
    assert vec.shape == whole.vector(feature, index).shape and not np.allclose(vec, whole.vector(feature, index))

"""What one search costs the database: the token, the query media, the feature (with the
search settings), the hits and the search record; and the one-query path for the hits
answers exactly what the filtered path answers."""

from __future__ import annotations

import pytest

from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import SearchRecord

N_MEDIA = 40


@pytest.fixture(autouse=True)
def fresh_engine():
    engine.clear()
    yield
    engine.clear()


@pytest.fixture
def corpus(make_media):
    return [make_media(seed) for seed in range(N_MEDIA)]


@pytest.fixture
def built(corpus, tiny_feature):
    feature = tiny_feature(index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    return feature


def _ids(res) -> list[int]:
    assert res.status_code == 200, res.content
    return [r["media"]["id"] for r in res.json()["res"]["results"]]


def test_search_by_media_costs_five_queries_with_its_durable_record(api, built, corpus, django_assert_max_num_queries):
    api.get(f"/api/v1/search/media/{corpus[1].pk}/?limit=10")  # loads the index
    records = SearchRecord.objects.count()
    # token, query media, feature + search settings, the hits' rows, the record
    with django_assert_max_num_queries(5):
        ids = _ids(api.get(f"/api/v1/search/media/{corpus[0].pk}/?limit=10"))
    assert len(ids) == 10
    assert SearchRecord.objects.count() == records + 1


def test_a_named_feature_costs_no_more_than_the_default(api, built, corpus, django_assert_max_num_queries):
    api.get(f"/api/v1/search/media/{corpus[1].pk}/")
    with django_assert_max_num_queries(5):
        _ids(api.get(f"/api/v1/search/media/{corpus[0].pk}/?limit=10&feature={built.pk}"))


def test_filtered_and_deep_pages_cost_one_query_more(api, built, corpus, django_assert_max_num_queries):
    api.get(f"/api/v1/search/media/{corpus[1].pk}/")
    with django_assert_max_num_queries(6):
        _ids(api.get(f"/api/v1/search/media/{corpus[0].pk}/?limit=10&media_type=image"))
    with django_assert_max_num_queries(6):
        _ids(api.get(f"/api/v1/search/media/{corpus[0].pk}/?offset=30&limit=39"))


def test_one_query_hits_equal_the_filtered_path_also_after_deletes(api, built, corpus):
    from media_app.services import media_delete

    query = corpus[0].pk
    for limit in (5, 10, 39):
        # Every media is an image: media_type=image takes the facts-first path.
        assert _ids(api.get(f"/api/v1/search/media/{query}/?limit={limit}")) == _ids(api.get(f"/api/v1/search/media/{query}/?limit={limit}&media_type=image"))
    first = _ids(api.get(f"/api/v1/search/media/{query}/?limit=10"))
    for victim in first[:3]:
        media_delete(media=type(corpus[0]).objects.get(pk=victim))
    after = _ids(api.get(f"/api/v1/search/media/{query}/?limit=10"))
    assert len(after) == 10 and not set(first[:3]) & set(after)
    assert after[:7] == first[3:]
    assert after == _ids(api.get(f"/api/v1/search/media/{query}/?limit=10&media_type=image"))

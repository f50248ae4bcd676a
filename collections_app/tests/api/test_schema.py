"""The OpenAPI schema documents the Collection API without generator warnings."""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema


@pytest.fixture
def schema():
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        generated = SchemaGenerator().get_schema(request=None, public=True)
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    GENERATOR_STATS.reset()
    return generated, messages


def test_schema_has_no_warnings_or_errors_about_collections(schema):
    _, messages = schema
    assert [m for m in messages if "ollection" in m] == []


def test_schema_is_valid_openapi(schema):
    validate_schema(schema[0])


def test_schema_lists_every_collection_route_and_method(schema):
    paths = schema[0]["paths"]
    expected = {
        "/api/v1/collection/": {"get", "post"},
        "/api/v1/collection/{id}/": {"get", "put", "patch", "delete"},
        "/api/v1/collection/{id}/export/": {"get"},
        "/api/v1/collection/{id}/media/": {"post"},
        "/api/v1/collection/{id}/media/{media_id}/": {"delete"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) - {"parameters"} == methods, path


def test_schema_documents_the_export_as_a_binary_zip_and_errors_as_json(schema):
    responses = schema[0]["paths"]["/api/v1/collection/{id}/export/"]["get"]["responses"]
    assert responses["200"]["content"] == {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
    assert set(responses["404"]["content"]) == {"application/json"}


def test_schema_documents_add_media_as_201_or_200_with_its_errors(schema):
    responses = schema[0]["paths"]["/api/v1/collection/{id}/media/"]["post"]["responses"]
    assert {"200", "201", "400", "401", "404", "415"} <= set(responses)


def test_schema_endpoint_serves_the_collection_routes(api):
    res = api.get("/api/v1/schema/")
    assert res.status_code == 200
    assert b"/api/v1/collection/{id}/export/" in res.content

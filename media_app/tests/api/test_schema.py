"""The OpenAPI schema of the media and upload routes generates cleanly and says what a
client must send."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema


def _schema_of_media_routes() -> dict:
    patterns = [
        path("api/v1/media/", include("media_app.api.urls")),
        path("api/v1/upload/", include("media_app.api.upload_urls")),
    ]
    GENERATOR_STATS.reset()
    return SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)


def test_media_and_upload_schema_generates_without_warnings_or_errors(db):
    schema = _schema_of_media_routes()

    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache
    validate_schema(schema)
    assert set(schema["paths"]) == {
        "/api/v1/media/",
        "/api/v1/media/id/{id}/",
        "/api/v1/media/sha256/{sha256}/",
        "/api/v1/media/info/",
        "/api/v1/media/random/",
        "/api/v1/upload/",
        "/api/v1/upload/{id}/",
    }


def test_upload_request_body_is_multipart_with_a_binary_image(db):
    schema = _schema_of_media_routes()

    body = schema["paths"]["/api/v1/upload/"]["post"]["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    ref = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    form = schema["components"]["schemas"][ref]
    assert form["properties"]["image"] == {**form["properties"]["image"], "type": "string", "format": "binary"}
    assert form["required"] == ["image"]


def test_media_operations_document_their_error_responses(db):
    paths = _schema_of_media_routes()["paths"]

    assert {"400", "401", "413", "415"} <= set(paths["/api/v1/upload/"]["post"]["responses"])
    assert {"401", "403", "404"} <= set(paths["/api/v1/media/id/{id}/"]["delete"]["responses"])
    assert {"400", "404"} <= set(paths["/api/v1/media/sha256/{sha256}/"]["get"]["responses"])
    list_params = {p["name"] for p in paths["/api/v1/media/"]["get"]["parameters"]}
    assert list_params == {"offset", "limit", "sort", "order", "media_type"}

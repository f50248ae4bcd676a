"""Fuzz the whole API from its own OpenAPI schema with schemathesis.

The schema is generated in-process by drf-spectacular (what /api/v1/schema/ serves),
and every operation gets a bounded, seeded set of generated requests (valid and
invalid bodies, query strings and path values) sent as a staff user with a token
through Django's WSGI handler, in the test's own database. Each answer must:

- never be a 500 (a 503 is allowed where the schema documents it: no weights here);
- be documented: status code, content type, headers and body match the schema;
- be in the envelope: ``{"status": "ok", "res": ...}`` or ``{"status": "error",
  "error": {"code", "message"}}`` (any JSON answer, documented or not).

Half of the generated integer ids are swapped for ids of rows made for the test (a
media, an upload, a collection with items, a built feature), so the success paths and
their bodies are checked too, not only 404s. Destructive calls (deletes, feature
changes, task starts) only touch this throwaway database and the test's own storage;
tasks never start (their enqueue waits for a commit that never comes in this test).
"""

from __future__ import annotations

import io
import json
import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Generated examples per operation: ~40 operations x 40 keeps the run under a minute on
# a 2-core machine. Seeded: the same requests every run, so a failure reproduces.
# A deeper run by hand: VFRAME_FUZZ_EXAMPLES=500 VFRAME_FUZZ_COVERAGE=1 pytest tests/test_fuzz.py
MAX_EXAMPLES = int(os.environ.get("VFRAME_FUZZ_EXAMPLES", "40"))
COVERAGE = os.environ.get("VFRAME_FUZZ_COVERAGE") == "1"
SEED = 20240507

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        # The coverage phase enumerates every boundary of every parameter (hundreds of
        # cases per operation, unbounded by max-examples): too slow for every CI run.
        "phases": {"coverage": {"enabled": COVERAGE}},
    }
)


def _openapi() -> dict:
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(raw, default=str))  # plain JSON types (lazy strings, enums)


schema = schemathesis.openapi.from_dict(_openapi(), config=CONFIG)
schema.app = get_wsgi_application()


def no_server_error(ctx, response, case):
    """No 5xx but a 503, which the schema documents where a model's weights may be
    missing (none ship here); status_code_conformance checks it is documented."""
    assert response.status_code < 500 or response.status_code == 503, f"server error {response.status_code}: {response.content[:500]!r}"
    return None


def in_envelope(ctx, response, case):
    """Every JSON answer is the envelope, whatever its status."""
    if not response.headers.get("content-type", [""])[0].startswith("application/json"):
        return None
    body = json.loads(response.content)
    assert isinstance(body, dict), f"not an object: {body!r:.200}"
    if 200 <= response.status_code < 300:
        assert body.get("status") == "ok" and "res" in body, f"success outside the envelope: {body!r:.300}"
    else:
        error = body.get("error")
        assert body.get("status") == "error" and isinstance(error, dict), f"error outside the envelope: {body!r:.300}"
        assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), f"error without code/message: {body!r:.300}"
    return None


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    in_envelope,
]


@pytest.fixture
def test_connection_stays_open():
    """Django's WSGI handler closes the database connection around each request; in a
    test transaction (autocommit off) that would close it on PostgreSQL. Django's own
    test client disconnects the same signals while it runs a request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(staff, user, settings, tmp_path, test_connection_stays_open, image_bytes):
    """Rows for the ids the fuzzer swaps in, and settings that keep it self-contained."""
    from collections_app.services import collection_add_media, collection_create
    from media_app.services import media_create_image, upload_create
    from search_app.indexing.build import feature_update_index
    from search_app.models import Feature, FeatureStatus

    settings.ALLOW_RANDOM_WEIGHTS = True
    settings.MODELS_DIR = tmp_path / "models"
    settings.REDIS_URL = None
    settings.TASKS_INLINE = True
    settings.TASKS_EAGER = True
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    media = [media_create_image(stream=io.BytesIO(image_bytes(64, 48, seed=s)), original_name=f"fuzz-{s}.jpg")[0] for s in range(3)]
    upload, _ = upload_create(stream=io.BytesIO(image_bytes(64, 48, seed=99)), original_name="query.jpg", user=user)
    collection = collection_create(title="fuzz", user=user)
    for m in media:
        collection_add_media(collection=collection, media=m, user=user)
    feature = Feature.objects.create(modelzoo_name="tiny-random", index_type="flat")
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY
    ids = {
        "media": [m.pk for m in media],
        "upload": [upload.pk],
        "collection": [collection.pk],
        "feature": [feature.pk],
        "media_id": [m.pk for m in media],
    }
    return {"token": Token.objects.get_or_create(user=staff)[0].key, "ids": ids}


def _known_ids(path: str, name: str, ids: dict) -> list[int] | None:
    if name == "media_id":
        return ids["media_id"]
    for prefix, key in (
        ("/api/v1/collection/", "collection"),
        ("/api/v1/upload/", "upload"),
        ("/api/v1/feature/", "feature"),
        ("/api/v1/search/load/", "feature"),
    ):
        if path.startswith(prefix):
            return ids[key]
    if path.startswith(("/api/v1/media/", "/api/v1/search/media/")):
        return ids["media"]
    if path.startswith("/api/v1/search/upload/"):
        return ids["upload"]
    return None


@pytest.mark.django_db
@schema.parametrize()
@settings(
    # The world is made once per operation and shared by its examples on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    deadline=None,
)
def test_every_operation_answers_in_the_envelope_and_as_documented(case, world):
    for name, value in list((case.path_parameters or {}).items()):
        known = _known_ids(case.path, name, world["ids"])
        # Even generated ints hit a real row; odd ones (and non-ints) stay as generated.
        if known and isinstance(value, int) and not isinstance(value, bool) and value % 2 == 0:
            case.path_parameters[name] = known[(value // 2) % len(known)]
    case.call_and_validate(headers={"Authorization": f"Token {world['token']}"}, checks=CHECKS)

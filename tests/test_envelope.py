"""The envelope, status codes and error shapes that every route shares."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token


def test_unknown_api_path_is_a_404_in_the_envelope(api):
    res = api.get("/api/v1/nope/")
    assert res.status_code == 404
    body = res.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize("url", ["/api/v1/media/", "/api/v1/upload/", "/api/v1/collection/", "/api/v1/feature/", "/api/v1/modelzoo/"])
def test_anonymous_request_is_401_in_the_envelope(anon, db, url):
    res = anon.get(url)
    assert res.status_code == 401
    assert res.json() == {"status": "error", "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided."}}
    assert res["WWW-Authenticate"].startswith("Token")


def test_bad_token_is_401(anon, db):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    res = anon.get("/api/v1/media/")
    assert res.status_code == 401
    assert res.json()["error"]["code"] == "not_authenticated"


def test_session_login_works_and_csrf_applies_to_session_writes(client, user):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    assert csrf_client.get("/api/v1/media/").status_code == 200
    res = csrf_client.post("/api/v1/collection/", {"title": "x"}, content_type="application/json")
    assert res.status_code == 403
    assert res.json()["status"] == "error"


def test_token_auth_is_exempt_from_csrf(user):
    from django.test import Client

    token, _ = Token.objects.get_or_create(user=user)
    c = Client(enforce_csrf_checks=True)
    res = c.post("/api/v1/collection/", {"title": "x"}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert res.status_code == 201


def test_malformed_json_is_a_400_in_the_envelope(api):
    res = api.generic("POST", "/api/v1/collection/", "{not json", content_type="application/json")
    assert res.status_code == 400
    assert res.json()["status"] == "error"


def test_wrong_method_is_405_in_the_envelope(api):
    res = api.patch("/api/v1/media/info/", {}, format="json")
    assert res.status_code == 405
    assert res.json()["error"]["code"] == "method_not_allowed"


def test_options_on_a_detail_route_describes_it_instead_of_failing(staff_api, db):
    # DRF's metadata calls get_object() to describe PUT; the feature routes name their
    # id "id", which once made it a 500 (found by schemathesis).
    res = staff_api.options("/api/v1/feature/0/")
    assert res.status_code == 200 and res.json()["status"] == "ok"


def test_a_form_with_more_fields_than_django_parses_is_a_400_in_the_envelope(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    res = api.post("/api/v1/upload/", {"note": "x", "media_ids": list(range(20))}, format="multipart")
    assert res.status_code == 400
    assert res["Content-Type"].startswith("application/json")
    assert res.json()["error"]["code"] == "too_many_fields"

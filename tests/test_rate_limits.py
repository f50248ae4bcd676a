"""Rate limits on uploads and searches: per user, a 429 in the envelope with
Retry-After past the rate, other users and other routes unaffected, rates from the
environment validated at start-up."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from media_app.models import Upload
from tests.images import make_image_bytes
from vframe_search.env import env_rate

from .test_settings import _run


@pytest.fixture
def low_rates(settings, user, staff):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"upload": "2/min", "search": "3/min"}}
    keys = [f"throttle_{scope}_{u.pk}" for scope in ("upload", "search") for u in (user, staff)]
    # The counters live in the shared cache (Redis under CI): start from none.
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _assert_throttled(res) -> None:
    assert res.status_code == 429, res.content
    body = res.json()
    assert body["status"] == "error" and body["error"]["code"] == "throttled"
    assert "throttled" in body["error"]["message"].lower()
    assert 0 < int(res["Retry-After"]) <= 60


def test_search_past_the_rate_is_a_429_with_retry_after_for_that_user_only(low_rates, user, staff):
    api = _client(user)
    # No feature here: each search is a 409, and each still counts against the rate.
    for _ in range(3):
        assert api.get("/api/v1/search/random/1/").status_code == 409
    _assert_throttled(api.get("/api/v1/search/random/1/"))
    _assert_throttled(api.get("/api/v1/search/media/1/"))  # one scope for every kind of search
    assert api.get("/api/v1/search/info/").status_code == 200  # not a search
    assert api.get("/api/v1/media/").status_code == 200
    assert _client(staff).get("/api/v1/search/random/1/").status_code == 409  # another user's own budget


def test_upload_past_the_rate_is_a_429_and_stores_nothing(low_rates, user):
    api = _client(user)
    for seed in range(2):
        res = api.post("/api/v1/upload/", {"image": _jpeg(seed)}, format="multipart")
        assert res.status_code == 201, res.content
    _assert_throttled(api.post("/api/v1/upload/", {"image": _jpeg(3)}, format="multipart"))
    assert Upload.objects.count() == 2
    assert api.get("/api/v1/upload/").status_code == 200  # reading is not limited


def test_session_clients_are_limited_too(low_rates, user, client):
    client.force_login(user)
    for _ in range(3):
        client.get("/api/v1/search/random/1/")
    _assert_throttled(client.get("/api/v1/search/random/1/"))


def test_with_the_counters_out_of_reach_the_limit_is_not_applied_and_requests_go_through(user, settings):
    """Redis down: search and uploads keep working (only tasks and live updates need
    Redis); a rate limit must not turn that into 500s."""
    from tests.harness import closed_port_redis_url

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"upload": "2/min", "search": "3/min"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": closed_port_redis_url()}}
    api = _client(user)
    for _ in range(5):
        assert api.get("/api/v1/search/random/1/").status_code == 409  # no feature: past the throttle
    for seed in range(4):
        assert api.post("/api/v1/upload/", {"image": _jpeg(seed)}, format="multipart").status_code == 201


def test_the_schema_documents_the_429(api):
    paths = api.get("/api/v1/schema/?format=json").json()["paths"]
    assert "429" in paths["/api/v1/search/media/{id}/"]["get"]["responses"]
    assert "429" in paths["/api/v1/upload/"]["post"]["responses"]
    assert "429" not in paths["/api/v1/upload/"]["get"]["responses"]


@pytest.mark.parametrize(("raw", "rate"), [("120/min", "120/min"), ("5/second", "5/second"), ("1000/h", "1000/h"), ("OFF", None), (" 10/day ", "10/day")])
def test_rates_from_the_environment(monkeypatch, raw, rate):
    monkeypatch.setenv("VFRAME_THROTTLE_SEARCH", raw)
    assert env_rate("VFRAME_THROTTLE_SEARCH", "600/min") == rate


@pytest.mark.parametrize("variable", ["VFRAME_THROTTLE_UPLOAD", "VFRAME_THROTTLE_SEARCH"])
def test_a_bad_rate_stops_start_up_naming_the_variable(tmp_path, variable):
    result = _run(["check"], {variable: "lots"}, tmp_path)
    assert result.returncode != 0
    assert variable in result.stderr and "ImproperlyConfigured" in result.stderr


def _jpeg(seed: int):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(f"q{seed}.jpg", make_image_bytes(64, 48, seed=seed + 1000), content_type="image/jpeg")


def _answer_seconds(status: int, retry_after: str | None) -> float:
    """Seconds until ``RefusalPause`` starts the answer of an app that answers
    ``status`` (with ``Retry-After``) at once."""
    import asyncio
    import time

    from core.api.throttles import RefusalPause

    async def inner(scope, receive, send):
        headers = [(b"content-type", b"application/json")] + ([(b"retry-after", retry_after.encode())] if retry_after else [])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    async def run() -> float:
        started = time.perf_counter()
        sent: list[float] = []

        async def send(message):
            if message["type"] == "http.response.start":
                sent.append(time.perf_counter() - started)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        await RefusalPause(inner)({"type": "http", "method": "GET", "path": "/"}, receive, send)
        return sent[0]

    return asyncio.run(run())


def test_a_refused_request_is_answered_after_the_pause_and_others_at_once(settings):
    """A 429 waits THROTTLE_PAUSE seconds before its answer; any other status does not.
    (bench/hostile.py measures what it does for other users' searches on a real server.)"""
    settings.THROTTLE_PAUSE = 0.5
    assert _answer_seconds(429, "30") >= 0.5
    settings.THROTTLE_PAUSE = 30.0
    assert _answer_seconds(200, None) < 30.0
    assert _answer_seconds(429, "0") < 30.0  # never longer than Retry-After


def test_the_project_serves_http_through_the_pause():
    from core.api.throttles import RefusalPause
    from vframe_search.asgi import application

    assert isinstance(application.application_mapping["http"], RefusalPause)


def test_the_pause_never_outlasts_retry_after(settings):
    from core.api.throttles import refusal_pause

    settings.THROTTLE_PAUSE = 1.0
    assert refusal_pause([(b"retry-after", b"30")]) == 1.0
    assert refusal_pause([(b"Retry-After", b"0")]) == 0.0
    assert refusal_pause([(b"retry-after", b"Wed, 21 Oct 2026 07:28:00 GMT")]) == 1.0
    assert refusal_pause([]) == 1.0
    settings.THROTTLE_PAUSE = 0
    assert refusal_pause([(b"retry-after", b"30")]) == 0.0

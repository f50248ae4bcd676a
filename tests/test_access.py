"""Access: every API route, every page, every stored file and the websocket need an
authenticated user. The test walks the URL configuration itself, so a route added
later without protection fails here."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

METHODS = ("get", "post", "put", "patch", "delete")
PUBLIC = {"/login/", "/admin/login/"}  # where people sign in


def _walk(patterns, prefix: str = ""):
    for p in patterns:
        route = prefix + _route_text(p)
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route


def _route_text(p) -> str:
    pattern = p.pattern
    text = str(pattern)
    if text.startswith("^"):
        text = text[1:]
    return text.rstrip("$").replace("\\Z", "")


def _concrete(route: str) -> str | None:
    """A concrete URL for a route: path converters and regex groups get sample values."""
    url = re.sub(r"\(\?P<path>\.\+\)", "media/ab/cd/file.jpg", route)
    url = re.sub(r"\(\?P<[a-z_]+>[^)]*\)", "1", url)
    url = re.sub(r"<int:[a-z_]+>", "1", url)
    url = re.sub(r"<(?:str:|path:|slug:)?[a-z_]+>", "x", url)
    url = url.replace(".*", "anything")
    if any(ch in url for ch in "()[]?*+\\^$"):
        return None
    return "/" + url


def all_urls() -> list[str]:
    urls = set()
    for route in _walk(get_resolver().url_patterns):
        url = _concrete(route)
        if url is not None:
            urls.add(url)
    return sorted(urls)


URLS = all_urls()


def test_the_walk_finds_every_group():
    joined = " ".join(URLS)
    for must in ("/api/v1/media/", "/api/v1/search/media/1/", "/api/v1/task/run/", "/api/v1/socket/clients/", "/api/v1/schema/", "/files/", "/dashboard/"):
        assert must in joined, must
    assert len(URLS) > 40


# "/api/" itself is the catch-all that answers 404 in the envelope for unknown API paths.
@pytest.mark.parametrize("url", [u for u in URLS if u.startswith("/api/") and u != "/api/"])
def test_every_api_route_answers_401_to_anonymous_requests(anon, db, url):
    for method in METHODS:
        res = getattr(anon, method)(url)
        if res.status_code == 405:
            continue
        assert res.status_code == 401, (method, url, res.status_code)
        if res["Content-Type"].startswith("application/json"):  # the schema/docs views render YAML/HTML
            assert res.json()["status"] == "error"


@pytest.mark.parametrize("url", [u for u in URLS if not u.startswith(("/api/", "/admin/")) and u not in PUBLIC])
def test_every_page_and_file_needs_login(client, db, url):
    res = client.get(url)
    if url.startswith("/files/"):
        assert res.status_code == 401
    else:
        assert res.status_code in (302, 405), (url, res.status_code)
        if res.status_code == 302:
            assert "/login/" in res["Location"]


@pytest.mark.parametrize("url", [u for u in URLS if u.startswith("/admin/") and u not in PUBLIC][:40])
def test_admin_pages_need_a_staff_login(client, user, url):
    res = client.get(url)
    assert res.status_code in (302, 404), (url, res.status_code)
    if res.status_code == 302:
        assert "login" in res["Location"]
    client.force_login(user)  # a curator without staff rights
    res = client.get(url)
    assert res.status_code in (302, 404), (url, res.status_code)
    client.logout()


def test_websocket_refuses_anonymous_clients(db):
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from vframe_search.asgi import application

    async def attempt():
        comm = WebsocketCommunicator(application, "/ws/v1/events/")
        connected, _ = await comm.connect()
        await comm.disconnect()
        return connected

    assert async_to_sync(attempt)() is False

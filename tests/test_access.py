"""Access: every API route, every page, every stored file and the websocket need an
authenticated user. The test walks the URL configuration itself, so a route added
later without protection fails here."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

METHODS = ("get", "post", "put", "patch", "delete")
PUBLIC = {"/login/", "/admin/login/"}  # where people sign in
PUBLIC |= {"/favicon.ico", "/apple-touch-icon.png"}  # the site's icon, which browsers ask for before any login


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
    url = re.sub(r"<(?:str:|path:|slug:)?[a-z_0-9]+>", "x", url)
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


# --- served files: stored media and exports never leave through an open path ------------------


@pytest.fixture
def stored_media(db, user, image_bytes):
    import io

    from collections_app.services import collection_add_media, collection_create
    from media_app.services import media_create_image

    data = image_bytes(80, 60, seed=3)
    media, _ = media_create_image(stream=io.BytesIO(data), original_name="evidence.jpg")
    collection = collection_create(title="case", user=user)
    collection_add_media(collection=collection, media=media, user=user)
    return media, collection, data


def test_media_file_and_thumbnail_urls_from_the_api_need_authentication(api, anon, stored_media):
    media, _, data = stored_media
    res = api.get(f"/api/v1/media/id/{media.pk}/").json()["res"]
    for url in (res["file_url"], res["thumbnail_url"]):
        path = url.removeprefix("http://testserver")
        assert path.startswith("/files/")
        denied = anon.get(path)
        assert denied.status_code == 401 and denied.json()["status"] == "error"
        served = api.get(path)
        assert served.status_code == 200 and served["Cache-Control"].startswith("private")
    assert b"".join(api.get(res["file_url"].removeprefix("http://testserver")).streaming_content) == data


def test_export_zip_is_streamed_to_authenticated_users_only_and_never_stored(api, anon, stored_media, isolated_storage):
    _, collection, _ = stored_media
    url = f"/api/v1/collection/{collection.pk}/export/"
    denied = anon.get(url)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "not_authenticated"
    res = api.get(url)
    assert res.status_code == 200 and res["Content-Type"] == "application/zip"
    assert res["Cache-Control"] == "private, no-store"
    assert b"".join(res.streaming_content)[:2] == b"PK"
    # Streamed from the originals: no archive is left anywhere a URL could reach.
    assert not [p for p in isolated_storage.rglob("*") if p.suffix == ".zip"]


@pytest.mark.parametrize("header", ["X-Accel-Redirect", "X-Sendfile"])
def test_sendfile_hands_the_bytes_to_the_proxy_only_after_the_auth_check(settings, api, anon, stored_media, isolated_storage, header):
    media, _, _ = stored_media
    settings.SENDFILE_HEADER = header
    settings.SENDFILE_PREFIX = "/protected/"
    path = f"/files/{media.file.name}"
    denied = anon.get(path)
    assert denied.status_code == 401 and header not in denied
    res = api.get(path)
    assert res.status_code == 200 and res.content == b""  # the proxy sends the bytes
    expected = f"/protected/{media.file.name}" if header == "X-Accel-Redirect" else str(isolated_storage / media.file.name)
    assert res[header] == expected

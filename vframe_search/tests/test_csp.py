"""Content-Security-Policy: every page carries one that refuses inline script, and no page
needs more (no inline script, no inline style, no event-handler attribute)."""

from __future__ import annotations

import io
import re

import pytest
from django.test import Client

from collections_app.services import collection_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_image(db):
    def make(seed: int):
        from media_app.services import media_create_image
        from tests.images import make_image_bytes

        return media_create_image(stream=io.BytesIO(make_image_bytes(64, 48, seed=seed)), original_name=f"m{seed}.jpg")[0]

    return make


@pytest.fixture
def signed_in(user, staff):
    client = Client()
    client.force_login(staff)
    return client


def _directives(header: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else "" for part in (p.strip() for p in header.split(";")) if part}


def page_paths(user, make_image) -> list[str]:
    collection = collection_create(title="Case", notes="**x**", user=user)
    media = make_image(seed=3)
    return ["/", "/collections/", f"/collections/{collection.pk}/", "/uploads/", "/dashboard/", "/duplicates/", f"/media/{media.pk}/"]


def test_every_page_has_a_policy_without_inline_script_and_needs_none(signed_in, user, make_image):
    for path in [*page_paths(user, make_image), "/login/", "/no-such-page/"]:
        client = signed_in if path != "/login/" else Client()
        res = client.get(path)
        assert res["Content-Type"].startswith("text/html"), path
        policy = _directives(res["Content-Security-Policy"])
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'", (path, policy)
        assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
        assert "ws://testserver" in policy["connect-src"]
        html = res.content.decode()
        # Scripts only from files; page data in JSON blocks, which browsers never run.
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert " src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html), path


def test_the_api_docs_load_their_script_from_a_file_under_their_own_policy(signed_in):
    res = signed_in.get("/api/v1/docs/")
    html = res.content.decode()
    assert res.status_code == 200
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert " src=" in tag, tag
    policy = _directives(res["Content-Security-Policy"])
    assert policy["script-src"] == "'self'" and "'unsafe-inline'" in policy["style-src"]
    script = re.search(r'<script src="([^"]*\?script=[^"]*)"', html).group(1).replace("&amp;", "&")
    assert signed_in.get(script).status_code == 200
    redoc = signed_in.get("/api/v1/redoc/")
    assert _directives(redoc["Content-Security-Policy"])["worker-src"] == "'self' blob:"


def test_the_admin_gets_inline_styles_but_no_inline_script(signed_in):
    policy = _directives(signed_in.get("/admin/")["Content-Security-Policy"])
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self' 'unsafe-inline'"


def test_stored_files_are_sandboxed_whatever_their_type(signed_in, make_image):
    media = make_image(seed=4)
    res = signed_in.get(f"/files/{media.file.name}")
    assert res.status_code == 200
    policy = _directives(res["Content-Security-Policy"])
    assert "sandbox" in policy and policy["default-src"] == "'none'"


def test_api_answers_need_no_policy_and_a_views_own_policy_is_kept(signed_in, rf):
    assert "Content-Security-Policy" not in signed_in.get("/api/v1/collection/")
    from django.http import HttpResponse

    from vframe_search.csp import ContentSecurityPolicyMiddleware

    own = HttpResponse("<p>report</p>", content_type="text/html")
    own["Content-Security-Policy"] = "default-src 'none'"
    assert ContentSecurityPolicyMiddleware(lambda request: own)(rf.get("/x/"))["Content-Security-Policy"] == "default-src 'none'"

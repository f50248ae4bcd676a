"""The page views through Django's test client: who may see them, what the server fills
in (the media page), the notes preview, and that the pages leave the API's routes alone.
What the pages do in a browser is in test_browser.py."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.test import Client

from collections_app.models import Collection, CollectionMedia
from media_app.models import Media, MediaType
from media_app.services import media_create_image

PAGES = ["/", "/collections/", "/uploads/", "/dashboard/"]


@pytest.fixture
def browser_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def image(db, image_bytes):
    media, _ = media_create_image(stream=io.BytesIO(image_bytes(96, 72, seed=1)), original_name="checkpoint.jpg")
    return media


@pytest.fixture
def video(db):
    """A video row with three keyframes, created out of order."""
    video = Media.objects.create(
        sha256="a" * 64, media_type=MediaType.VIDEO, file="media/v.mp4", thumbnail="thumbs/v.jpg", duration=6.5, original_name="clip.mp4"
    )
    frames = {}
    for number, ts in ((48, 2.0), (0, 0.0), (96, 4.0)):
        frames[number] = Media.objects.create(
            sha256=f"{number:064x}",
            media_type=MediaType.VIDEO_FRAME,
            parent=video,
            frame_number=number,
            timestamp=ts,
            file=f"media/f{number}.jpg",
            thumbnail=f"thumbs/f{number}.jpg",
        )
    return video, frames


@pytest.mark.parametrize("path", [*PAGES, "/media/1/", "/collections/1/"])
def test_pages_send_anonymous_visitors_to_the_login_page(client, db, path):
    res = client.get(path)
    assert res.status_code == 302
    assert res["Location"] == f"/login/?next={path}"


def test_login_page_logs_in_and_goes_to_search(client, user):
    res = client.get("/login/")
    assert res.status_code == 200
    assert b'name="username"' in res.content and b"csrfmiddlewaretoken" in res.content
    res = client.post("/login/", {"username": "curator", "password": "wrong"})
    assert res.status_code == 200 and b"correct username and password" in res.content
    res = client.post("/login/", {"username": "curator", "password": "curator-pass-123"})
    assert res.status_code == 302 and res["Location"] == "/"
    res = client.post("/logout/")
    assert res.status_code == 302 and res["Location"] == "/login/"
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("path", "script"),
    [("/", "search.js"), ("/collections/", "collections.js"), ("/uploads/", "uploads.js"), ("/dashboard/", "dashboard.js")],
)
def test_pages_render_their_shell_with_the_config_their_script_reads(browser_client, path, script):
    res = browser_client.get(path)
    assert res.status_code == 200
    html = res.content.decode()
    assert f"/static/vframe/js/{script}" in html and "/static/vframe/js/common.js" in html
    assert 'name="csrf-token"' in html
    config = json.loads(re.search(r'<script id="vframe-config" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert config["api"] == "/api/v1/" and config["user"] == "curator" and config["staff"] is False
    assert 'aria-current="page"' in html
    # Offline: nothing is loaded from another host.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_media_page_shows_the_image_its_metadata_and_its_collections(browser_client, image, user, django_assert_max_num_queries):
    collection = Collection.objects.create(title="Leads", user=user, username="curator")
    CollectionMedia.objects.create(collection=collection, media=image, user=user, username="curator")
    Collection.objects.create(title="Unrelated")
    with django_assert_max_num_queries(6):
        res = browser_client.get(f"/media/{image.pk}/")
    assert res.status_code == 200
    html = res.content.decode()
    assert image.sha256 in html and "checkpoint.jpg" in html and "96 × 72 px" in html
    assert f'href="/?media={image.pk}"' in html  # search by this
    assert f'src="/files/{image.file.name}"' in html
    assert f'href="/collections/{collection.pk}/">Leads</a>' in html and "(1 item)" in html
    assert "Unrelated" not in html
    assert '<ol class="filmstrip">' not in html  # an image has no frames (the near-duplicates strip has its own id)


def test_frame_page_shows_the_frames_of_its_video_in_order_with_itself_marked(browser_client, video):
    parent, frames = video
    res = browser_client.get(f"/media/{frames[48].pk}/")
    assert res.status_code == 200
    html = res.content.decode()
    strip = re.findall(r'<li( class="current" aria-current="true")?>\s*<a href="/media/(\d+)/">', html)
    assert [int(pk) for _, pk in strip] == [frames[0].pk, frames[48].pk, frames[96].pk]
    assert [bool(current) for current, _ in strip] == [False, True, False]
    assert "0:02.0" in html and f'href="/media/{parent.pk}/"' in html

    res = browser_client.get(f"/media/{parent.pk}/")
    html = res.content.decode()
    assert "<video" in html and "0:06.5" in html
    assert len(re.findall(r'<a href="/media/\d+/">\s*<img', html)) == 3


def test_unknown_media_and_collection_pages_are_404(browser_client, db):
    assert browser_client.get("/media/999999/").status_code == 404
    assert browser_client.get("/media/99999999999999999999/").status_code == 404
    assert browser_client.get("/collections/999999/").status_code == 404


def test_collection_page_renders_title_notes_and_export_link(browser_client, user):
    collection = Collection.objects.create(title="Checkpoint <b>leads</b>", notes="# Notes", user=user, username="curator")
    res = browser_client.get(f"/collections/{collection.pk}/")
    assert res.status_code == 200
    html = res.content.decode()
    assert "Checkpoint &lt;b&gt;leads&lt;/b&gt;" in html  # escaped, never markup
    assert f'href="/api/v1/collection/{collection.pk}/export/"' in html
    assert "# Notes</textarea>" in html


def test_notes_preview_renders_sanitized_markdown(browser_client):
    res = browser_client.post("/collections/notes-preview/", {"notes": "**bold** <script>alert(1)</script> [x](javascript:alert(1))"})
    assert res.status_code == 200
    html = res.json()["res"]["html"]
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "javascript:" not in html
    assert browser_client.get("/collections/notes-preview/").status_code == 405
    res = browser_client.post("/collections/notes-preview/", {"notes": "x" * 200_001})
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_large"


def test_notes_preview_needs_a_login_and_the_csrf_token(client, user):
    assert client.post("/collections/notes-preview/", {"notes": "hi"}).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/collections/notes-preview/", {"notes": "hi"}).status_code == 403
    strict.get("/")  # sets the CSRF cookie, as opening a page does
    token = strict.cookies["csrftoken"].value
    assert strict.post("/collections/notes-preview/", {"notes": "hi"}, HTTP_X_CSRFTOKEN=token).status_code == 200


def test_the_pages_leave_the_api_admin_and_files_routes_alone(browser_client, api):
    res = browser_client.get("/api/v1/no-such-route/")
    assert res.status_code == 404 and res.json()["status"] == "error"
    assert browser_client.get("/api/v2/").status_code == 404
    assert api.get("/api/v1/media/info/").status_code == 200
    assert Client().get("/admin/").status_code == 302
    assert Client().get("/files/thumbs/x.jpg").status_code == 401


def test_a_missing_page_says_so_in_the_site_layout(browser_client, settings):
    settings.DEBUG = False
    res = browser_client.get("/media/424242/")
    assert res.status_code == 404
    html = res.content.decode()
    assert "Not found" in html and 'name="viewport"' in html and 'href="/"' in html


def test_the_batch_page_renders_its_form_and_the_limits_it_says(browser_client, settings):
    res = browser_client.get("/batch/")
    html = res.content.decode()
    assert res.status_code == 200 and "/static/vframe/js/batch.js" in html and 'id="batch-files"' in html
    config = json.loads(re.search(r'<script id="vframe-config" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert config["batchMaxBytes"] == settings.BATCH_MAX_BYTES
    assert 'href="/batch/" aria-current="page"' in html


def test_the_icon_is_where_browsers_look_for_it_without_a_login(client, db):
    for path, target in (("/favicon.ico", "vframe/favicon.ico"), ("/apple-touch-icon.png", "vframe/apple-touch-icon.png")):
        res = client.get(path)
        assert res.status_code == 301 and res["Location"].endswith(target)


def test_the_api_reference_loads_nothing_from_another_site(browser_client):
    html = browser_client.get("/api/v1/redoc/").content.decode()
    assert "fonts.googleapis" not in html and "/static/vframe/js/redoc-offline.js" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "drf_spectacular_sidecar/redoc" in html


def test_a_frame_page_opens_its_video_at_the_frames_time_and_a_video_plays_its_copy(browser_client, video):
    parent, frames = video
    html = browser_client.get(f"/media/{frames[48].pk}/").content.decode()
    assert f'href="/media/{parent.pk}/#t=2.000"' in html and "Open the video at 0:02.0" in html

    assert 'src="/files/media/v.mp4"' in browser_client.get(f"/media/{parent.pk}/").content.decode()
    Media.objects.filter(pk=parent.pk).update(playable="media/v.playable.mp4")
    html = browser_client.get(f"/media/{parent.pk}/").content.decode()
    assert 'src="/files/media/v.playable.mp4"' in html and 'id="playable-note"' in html
    assert 'href="/files/media/v.mp4" download' in html  # the original stays the download


def test_an_archived_collection_page_reads_only(browser_client, user):
    collection = Collection.objects.create(title="Closed", notes="final", user=user, username="curator", archived=True)
    html = browser_client.get(f"/collections/{collection.pk}/").content.decode()
    assert re.search(r'<p class="notice" id="archived-note">', html)
    assert re.search(r'id="title-input"[^>]* readonly', html) and re.search(r'id="notes-input"[^>]* readonly', html)
    assert re.search(r'id="save-button" disabled', html)

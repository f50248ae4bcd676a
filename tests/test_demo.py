"""The README's demo: generated offline, ingested, indexed, searchable at once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from search_app.indexing import engine


@pytest.mark.slow
def test_demo_command_makes_a_searchable_collection_where_copies_find_their_original(db, settings, client):
    settings.DATA_DIR = settings.INDEX_DIR.parent / "data"
    settings.ALLOW_RANDOM_WEIGHTS = True
    settings.TASKS_INLINE = True
    engine.clear()
    out = io.StringIO()
    call_command("demo", "--scenes", "8", "--password", "demo-pass-123", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "RANDOM weights" in text and "password: demo-pass-123" in text
    token = Token.objects.get(user__username="demo").key
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    from media_app.models import Media

    original = Media.objects.get(original_name="scene_000.png")
    copy = Media.objects.get(original_name="scene_000_reencoded.jpg")
    res = client.get(f"/api/v1/search/media/{copy.pk}/", **auth)
    assert res.status_code == 200, res.content
    assert res.json()["res"]["results"][0]["media"]["id"] == original.pk
    # the video became a video row with keyframes, and the collection holds the copies
    assert Media.objects.filter(media_type="video").count() == 1
    assert Media.objects.filter(media_type="video_frame").count() >= 2
    res = client.get("/api/v1/collection/", **auth)
    assert res.json()["res"]["results"][0]["title"].startswith("Demo")
    # running it again adds nothing
    before = Media.objects.count()
    call_command("demo", "--scenes", "8", "--password", "demo-pass-123", stdout=io.StringIO(), stderr=io.StringIO())
    assert Media.objects.count() == before

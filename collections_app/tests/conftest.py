"""Fixtures of the collections tests: real Media made through media_app's service."""

from __future__ import annotations

import io

import pytest

from collections_app.services import collection_create


@pytest.fixture
def make_media(db, image_bytes):
    """Create an image Media (stored through the default storage) from a seed."""

    def make(seed: int = 1, *, original_name: str | None = None, width: int = 64, height: int = 48, fmt: str = "JPEG"):
        from media_app.services import media_create_image

        data = image_bytes(width=width, height=height, fmt=fmt, seed=seed)
        name = f"photo-{seed}.{'jpg' if fmt == 'JPEG' else fmt.lower()}" if original_name is None else original_name
        media, _ = media_create_image(stream=io.BytesIO(data), original_name=name, source_path="/evidence/" + name.replace("\x00", ""))
        media.test_bytes = data  # what the export must reproduce byte for byte
        return media

    return make


@pytest.fixture
def make_collection(db, user):
    def make(title: str = "Case 1", **kwargs):
        kwargs.setdefault("user", user)
        return collection_create(title=title, **kwargs)

    return make

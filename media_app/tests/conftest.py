"""Fixtures for media_app tests: stored images and a video with frames. Helpers to make
images and to look at what the storage holds are in tests/images.py and tests/storage.py."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from media_app.imaging import sharded_name
from media_app.models import Media, MediaType
from media_app.services import media_create_image
from tests.images import make_image_bytes


@pytest.fixture
def make_image(db):
    """Store an image as Media through the service; different seeds give different rows."""

    def make(seed: int = 0, name: str = "", **kwargs) -> Media:
        data = make_image_bytes(40, 30, seed=seed, **kwargs)
        media, created = media_create_image(stream=io.BytesIO(data), original_name=name or f"image-{seed}.jpg", source_path=f"/import/image-{seed}.jpg")
        assert created
        return media

    return make


def _fake_stored(prefix: str, key: str, extension: str, payload: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(key.encode()).hexdigest()
    name = default_storage.save(sharded_name(prefix, sha, extension), ContentFile(payload))
    thumb = default_storage.save(sharded_name("thumbs", sha, "jpg"), ContentFile(make_image_bytes(8, 6)))
    return sha, name, thumb


@pytest.fixture
def make_video(db):
    """A video row with ``frames`` keyframe rows, created directly (ingesting real video
    is another module's job; these tests only need the rows and some stored files)."""

    def make(key: str = "clip", frames: int = 3) -> Media:
        sha, name, thumb = _fake_stored("media", key, "mp4", b"not really an mp4")
        video = Media.objects.create(
            sha256=sha,
            media_type=MediaType.VIDEO,
            file=name,
            thumbnail=thumb,
            width=64,
            height=48,
            format="mp4",
            byte_size=17,
            duration=12.5,
            original_name=f"{key}.mp4",
        )
        # Created out of order on purpose: siblings must come back in frame order.
        for number in reversed(range(frames)):
            fsha, fname, fthumb = _fake_stored("media", f"{key}-frame-{number}", "jpg", make_image_bytes(16, 12, seed=number))
            Media.objects.create(
                sha256=fsha,
                media_type=MediaType.VIDEO_FRAME,
                file=fname,
                thumbnail=fthumb,
                width=16,
                height=12,
                format="JPEG",
                byte_size=100,
                parent=video,
                frame_number=number * 25,
                timestamp=number * 1.0,
            )
        return video

    return make

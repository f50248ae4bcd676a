"""Fixtures for media_app tests: stored images, a video with frames, and helpers to
look at what the storage holds."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from conftest import make_image_bytes
from media_app.imaging import sharded_name
from media_app.models import Media, MediaType
from media_app.services import media_create_image


def stored_files(root: Path) -> list[Path]:
    """Every regular file under the storage root, relative to it."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels."""
    data = bytearray(make_image_bytes(8, 8, fmt="PNG"))
    # Signature (8) + IHDR length (4) + b"IHDR" (4), then width and height.
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)


def image_upload(name: str = "photo.jpg", data: bytes | None = None, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data if data is not None else make_image_bytes(seed=1), content_type=content_type)


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

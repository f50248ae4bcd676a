"""Fixtures shared by every app's tests: users with tokens, API clients, images made
with Pillow, and an isolated file storage per test."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def isolated_storage(settings, tmp_path):
    """Each test writes files into its own directory (the default storage follows)."""
    files = tmp_path / "files"
    settings.FILES_ROOT = files
    settings.MEDIA_ROOT = files
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "vframe_search.storage.AtomicFileSystemStorage", "OPTIONS": {"location": str(files), "base_url": "/files/"}},
    }
    settings.INDEX_DIR = tmp_path / "indexes"
    return files


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="curator", password="curator-pass-123")


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user(username="staff", password="staff-pass-123", is_staff=True)


@pytest.fixture
def api(user) -> APIClient:
    """API client authenticated with the curator's token."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def staff_api(staff) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=staff)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def make_image_bytes(width: int = 64, height: int = 48, color=(200, 30, 30), fmt: str = "JPEG", seed: int | None = None, **save_kwargs) -> bytes:
    """Encode a small test image. With ``seed`` the content is a random pattern, so
    different seeds give visually different images."""
    if seed is None:
        img = Image.new("RGB", (width, height), color)
    else:
        import numpy as np

        rng = np.random.default_rng(seed)
        small = rng.integers(0, 256, size=(max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
        img = Image.fromarray(small, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    if fmt in ("JPEG",) and img.mode != "RGB":
        img = img.convert("RGB")
    out = io.BytesIO()
    img.save(out, format=fmt, **save_kwargs)
    return out.getvalue()


@pytest.fixture
def image_bytes():
    return make_image_bytes

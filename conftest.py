"""Fixtures shared by every app's tests: users with tokens, API clients, images made
with Pillow, and an isolated file storage per test."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.images import make_image_bytes


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
    # The search's table of stored pictures' hashes is read from the database: each
    # test's database starts empty and reuses ids.
    from search_app.query import hashes

    hashes.reset()
    # The weights a search record names are remembered a few seconds per process; a
    # test may point a model at other weights.
    from search_app.query import records

    records.weights_checksums_forget()
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


@pytest.fixture
def image_bytes():
    """make_image_bytes(width, height, color, fmt, seed, **save_kwargs) -> encoded bytes."""
    return make_image_bytes

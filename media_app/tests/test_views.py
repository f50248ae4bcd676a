"""/files/<path>: stored files are only served to authenticated users, and only files
inside the storage."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token


@pytest.fixture
def stored(make_image):
    return make_image(seed=1)


def test_stored_file_needs_authentication(db, stored):
    res = Client().get(f"/files/{stored.file.name}")

    assert res.status_code == 401
    assert res.json()["status"] == "error" and res.json()["error"]["code"] == "not_authenticated"


def test_stored_file_is_served_to_a_token_user(stored, user, isolated_storage):
    token, _ = Token.objects.get_or_create(user=user)

    res = Client().get(f"/files/{stored.file.name}", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert res.status_code == 200
    assert b"".join(res.streaming_content) == (isolated_storage / stored.file.name).read_bytes()
    assert res["Content-Type"] == "image/jpeg"
    assert "private" in res["Cache-Control"]


def test_stored_thumbnail_is_served_to_a_session_user(stored, user):
    client = Client()
    client.force_login(user)

    res = client.get(f"/files/{stored.thumbnail.name}")

    assert res.status_code == 200
    assert b"".join(res.streaming_content)[:3] == b"\xff\xd8\xff"


def test_stored_file_with_a_bad_token_is_a_401(stored):
    res = Client().get(f"/files/{stored.file.name}", HTTP_AUTHORIZATION="Token not-a-real-token")

    assert res.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "media/../../secret.txt",
        "%2e%2e/secret.txt",
        "media/%2e%2e/%2e%2e/secret.txt",
        "/secret.txt",
        "media/../../../../../../etc/passwd",
    ],
)
def test_path_traversal_out_of_the_storage_is_a_404(user, isolated_storage, path):
    # A real file right next to the storage root: it must stay unreachable.
    (isolated_storage.parent / "secret.txt").write_text("top secret")
    client = Client()
    client.force_login(user)

    res = client.get(f"/files/{path}")

    assert res.status_code == 404
    assert b"top secret" not in res.content


def test_missing_stored_file_is_a_404(user, isolated_storage):
    client = Client()
    client.force_login(user)

    assert client.get("/files/media/aa/bb/nothing.jpg").status_code == 404


def test_stored_file_is_only_served_by_get(stored, user):
    client = Client()
    client.force_login(user)

    assert client.post(f"/files/{stored.file.name}").status_code == 405


@pytest.mark.parametrize("folder", ["media", "media/", "thumbs", "reports", "reports/batch", "."])
def test_a_folder_is_a_404_not_a_500(user, stored, staff, folder):
    # Stored files exist under each of these, so each is a real folder.
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    default_storage.save("reports/batch/t1/x-report.html", ContentFile(b"<p>r</p>"))
    for who in (user, staff):
        client = Client()
        client.force_login(who)
        assert client.get(f"/files/{folder}").status_code == 404


def test_paths_outside_the_shared_folders_are_for_staff_unless_their_app_says_otherwise(user, staff, stored):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from media_app import hooks

    index = default_storage.save("indexes/feature-1/index.bin", ContentFile(b"vectors"))
    note = default_storage.save("notes/mine.txt", ContentFile(b"hello"))
    curator, boss = Client(), Client()
    curator.force_login(user)
    boss.force_login(staff)
    assert curator.get(f"/files/{index}").status_code == 404
    assert boss.get(f"/files/{index}").status_code == 200

    def notes_of_their_author(*, path, user):
        return user.username == "curator" if path.startswith("notes/") else None

    hooks.file_access.register(notes_of_their_author)
    try:
        assert curator.get(f"/files/{note}").status_code == 200
        assert boss.get(f"/files/{note}").status_code == 404  # the app said no, staff or not
        assert curator.get(f"/files/{index}").status_code == 404  # not that app's path
    finally:
        hooks.file_access.unregister(notes_of_their_author)


@pytest.mark.parametrize(
    "header, first, last",
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None), ("bytes=10-999999999", 10, None)],
)
def test_a_byte_range_is_answered_206_with_its_bytes_and_content_range(stored, user, isolated_storage, header, first, last):
    client = Client()
    client.force_login(user)
    data = (isolated_storage / stored.file.name).read_bytes()
    size = len(data)
    start = size + first if first < 0 else first
    end = size - 1 if last is None else last

    res = client.get(f"/files/{stored.file.name}", HTTP_RANGE=header)

    assert res.status_code == 206
    assert b"".join(res.streaming_content) == data[start : end + 1]
    assert res["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert res["Content-Length"] == str(end - start + 1)
    assert res["Accept-Ranges"] == "bytes"


def test_a_whole_file_says_it_accepts_ranges_and_its_length(stored, user, isolated_storage):
    client = Client()
    client.force_login(user)

    res = client.get(f"/files/{stored.file.name}")

    assert res.status_code == 200 and res["Accept-Ranges"] == "bytes"
    assert res["Content-Length"] == str((isolated_storage / stored.file.name).stat().st_size)


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=-"])
def test_several_or_unreadable_ranges_get_the_whole_file(stored, user, isolated_storage, header):
    client = Client()
    client.force_login(user)

    res = client.get(f"/files/{stored.file.name}", HTTP_RANGE=header)

    assert res.status_code == 200
    assert b"".join(res.streaming_content) == (isolated_storage / stored.file.name).read_bytes()


def test_a_range_past_the_end_is_a_416_naming_the_size(stored, user, isolated_storage):
    client = Client()
    client.force_login(user)
    size = (isolated_storage / stored.file.name).stat().st_size

    res = client.get(f"/files/{stored.file.name}", HTTP_RANGE=f"bytes={size}-")

    assert res.status_code == 416 and res["Content-Range"] == f"bytes */{size}"


def test_a_range_of_a_file_someone_may_not_read_is_still_a_404(stored, db):
    # The range is read only after the ownership checks: no byte of a hidden file leaks.
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.create_user("other-curator"))

    assert client.get("/files/reports/nobody/report.html", HTTP_RANGE="bytes=0-10").status_code == 404

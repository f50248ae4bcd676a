"""/api/v1/upload/...: multipart uploads validated by decoding, deduped by sha256,
attributed to a user, listed, fetched and deleted by their owner or staff."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from media_app.imaging import sharded_name
from media_app.models import Upload
from tests.images import image_upload, png_bomb
from tests.storage import stored_files

URL = "/api/v1/upload/"
UPLOAD_KEYS = {"id", "sha256", "file_url", "thumbnail_url", "width", "height", "format", "byte_size", "original_name", "username", "created_at"}


def raw_multipart(filename: str, data: bytes, boundary: str = "vframe-test-boundary") -> tuple[bytes, str]:
    """A multipart body built by hand: the test client would strip a path from the name
    before sending it, a hostile client does not."""
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def assert_rejected(res, status: int, isolated_storage, code: str | None = None):
    assert res.status_code == status, res.content
    assert res.json()["status"] == "error"
    if code is not None:
        assert res.json()["error"]["code"] == code
    assert Upload.objects.count() == 0
    assert stored_files(isolated_storage) == []


# --- create ------------------------------------------------------------------------------------


def test_upload_of_a_new_image_is_201_with_the_stored_record(api, user, isolated_storage, image_bytes):
    data = image_bytes(80, 60, seed=1)

    res = api.post(URL, {"image": image_upload("query.jpg", data)}, format="multipart")

    assert res.status_code == 201
    body = res.json()["res"]
    assert set(body) == UPLOAD_KEYS
    upload = Upload.objects.get()
    assert body["id"] == upload.pk and body["sha256"] == upload.sha256
    assert (body["width"], body["height"], body["format"], body["byte_size"]) == (80, 60, "JPEG", len(data))
    assert body["original_name"] == "query.jpg" and body["username"] == "curator"
    assert body["file_url"] == f"http://testserver/files/{upload.file.name}"
    assert body["thumbnail_url"] == f"http://testserver/files/{upload.thumbnail.name}"
    assert upload.user == user
    assert (isolated_storage / upload.file.name).read_bytes() == data


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("TIFF", "tif"), ("BMP", "bmp")])
def test_upload_of_every_accepted_format_is_stored_with_its_extension(api, fmt, ext, image_bytes):
    res = api.post(URL, {"image": image_upload(f"x.{ext}", image_bytes(seed=2, fmt=fmt))}, format="multipart")

    assert res.status_code == 201, res.content
    upload = Upload.objects.get()
    assert upload.format == fmt and upload.file.name == sharded_name("uploads", upload.sha256, ext)


def test_upload_of_the_same_bytes_twice_returns_the_existing_record_with_200(api, isolated_storage, image_bytes):
    data = image_bytes(seed=3)
    first = api.post(URL, {"image": image_upload("a.jpg", data)}, format="multipart")

    second = api.post(URL, {"image": image_upload("b.jpg", data)}, format="multipart")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["res"]["id"] == first.json()["res"]["id"]
    assert Upload.objects.count() == 1 and len(stored_files(isolated_storage)) == 2


def test_upload_with_a_json_body_is_a_415(api, isolated_storage):
    res = api.post(URL, {"image": "aGVsbG8="}, format="json")

    assert_rejected(res, 415, isolated_storage, code="unsupported_media_type")


def test_upload_without_an_image_is_a_400_naming_the_field(api, isolated_storage):
    res = api.post(URL, {"username": "curator"}, format="multipart")

    assert_rejected(res, 400, isolated_storage, code="invalid")
    assert "image" in res.json()["error"]["fields"]


def test_upload_of_a_zero_byte_file_is_a_400(api, isolated_storage):
    res = api.post(URL, {"image": SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")}, format="multipart")

    assert_rejected(res, 400, isolated_storage)
    assert "image" in res.json()["error"]["fields"]


def test_upload_of_a_text_file_named_jpg_is_a_415_and_nothing_is_stored(api, isolated_storage):
    res = api.post(URL, {"image": SimpleUploadedFile("notes.jpg", b"this is not an image\n" * 50, content_type="image/jpeg")}, format="multipart")

    assert_rejected(res, 415, isolated_storage, code="not_an_image")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_upload_of_a_truncated_image_is_a_400_and_nothing_is_stored(api, isolated_storage, fmt, image_bytes):
    data = image_bytes(64, 48, seed=4, fmt=fmt)

    res = api.post(URL, {"image": image_upload("cut." + fmt.lower(), data[: len(data) // 2])}, format="multipart")

    assert_rejected(res, 400, isolated_storage, code="corrupt_image")


def test_upload_of_a_decompression_bomb_is_a_413_and_nothing_is_stored(api, isolated_storage):
    res = api.post(URL, {"image": image_upload("bomb.png", png_bomb(), "image/png")}, format="multipart")

    assert_rejected(res, 413, isolated_storage, code="too_many_pixels")


def test_upload_above_the_byte_limit_is_a_413_and_nothing_is_stored(api, settings, isolated_storage, image_bytes):
    data = image_bytes(64, 48, seed=5, fmt="PNG")
    settings.MAX_UPLOAD_BYTES = len(data) - 1

    res = api.post(URL, {"image": image_upload("big.png", data, "image/png")}, format="multipart")

    assert_rejected(res, 413, isolated_storage, code="too_large")


def test_upload_with_a_body_far_above_the_limit_is_refused_before_parsing(api, settings, isolated_storage, monkeypatch):
    settings.MAX_UPLOAD_BYTES = 1024
    parsed: list = []
    monkeypatch.setattr("media_app.api.views.UploadCreateSerializer.is_valid", lambda self, **kw: parsed.append(1))

    res = api.post(URL, {"image": image_upload("huge.bin", b"\0" * 200_000)}, format="multipart")

    assert_rejected(res, 413, isolated_storage, code="too_large")
    assert parsed == []


@pytest.mark.parametrize(
    "hostile,clean",
    [("../../etc/passwd.jpg", "passwd.jpg"), ("..\\..\\boot.jpg", "boot.jpg"), ("/var/www/x.jpg", "x.jpg")],
)
def test_upload_with_a_path_traversal_name_keeps_only_the_base_name(api, isolated_storage, hostile, clean, image_bytes):
    body, content_type = raw_multipart(hostile, image_bytes(seed=6))

    res = api.post(URL, data=body, content_type=content_type)

    assert res.status_code == 201, res.content
    upload = Upload.objects.get()
    assert res.json()["res"]["original_name"] == clean == upload.original_name
    assert upload.file.name == sharded_name("uploads", upload.sha256, "jpg")
    assert all(".." not in p.parts for p in stored_files(isolated_storage))
    assert not (isolated_storage.parent / "etc").exists()


def test_upload_username_defaults_to_the_authenticated_user(api):
    res = api.post(URL, {"image": image_upload()}, format="multipart")

    assert res.json()["res"]["username"] == "curator"


def test_upload_as_someone_else_by_a_curator_is_a_400_on_username(api, isolated_storage):
    res = api.post(URL, {"image": image_upload(), "username": "someone-else"}, format="multipart")

    assert_rejected(res, 400, isolated_storage, code="invalid")
    assert "username" in res.json()["error"]["fields"]


def test_upload_naming_oneself_is_allowed(api):
    res = api.post(URL, {"image": image_upload(), "username": "curator"}, format="multipart")

    assert res.status_code == 201 and res.json()["res"]["username"] == "curator"


def test_upload_on_behalf_of_someone_else_by_staff_is_allowed(staff_api, staff):
    res = staff_api.post(URL, {"image": image_upload(), "username": "field-team"}, format="multipart")

    assert res.status_code == 201
    upload = Upload.objects.get()
    assert upload.username == "field-team" and upload.user == staff


def test_upload_by_anonymous_is_a_401(anon, db, isolated_storage):
    res = anon.post(URL, {"image": image_upload()}, format="multipart")

    assert_rejected(res, 401, isolated_storage)


# --- list and fetch -------------------------------------------------------------------------


@pytest.fixture
def uploads(api, staff_api, image_bytes):
    """Three uploads by the curator, one by staff."""
    for seed in range(3):
        assert api.post(URL, {"image": image_upload(f"c{seed}.jpg", image_bytes(seed=10 + seed))}, format="multipart").status_code == 201
    assert staff_api.post(URL, {"image": image_upload("s.jpg", image_bytes(seed=20))}, format="multipart").status_code == 201
    return list(Upload.objects.order_by("id"))


def test_upload_list_is_an_enveloped_page(api, uploads):
    res = api.get(URL)

    assert res.status_code == 200
    page = res.json()["res"]
    assert page["count"] == 4
    assert [u["id"] for u in page["results"]] == [u.pk for u in uploads]
    assert all(set(u) == UPLOAD_KEYS for u in page["results"])


def test_upload_list_pages_and_sorts(api, uploads):
    page = api.get(URL, {"offset": 1, "limit": 2, "sort": "id", "order": "desc"}).json()["res"]

    assert [u["id"] for u in page["results"]] == [uploads[2].pk, uploads[1].pk]


@pytest.mark.parametrize("params", [{"sort": "size"}, {"order": "sideways"}, {"offset": "x"}])
def test_upload_list_with_bad_paging_is_a_400(api, db, params):
    assert api.get(URL, params).status_code == 400


def test_upload_list_costs_a_fixed_number_of_queries(api, uploads, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):  # token, count, page
        res = api.get(URL, {"limit": 100})

    assert res.json()["res"]["count"] == 4


def test_upload_by_id(api, uploads):
    res = api.get(f"{URL}{uploads[0].pk}/")

    assert res.status_code == 200 and res.json()["res"]["id"] == uploads[0].pk


def test_upload_by_unknown_id_is_a_404_envelope(api, db):
    res = api.get(f"{URL}98765/")

    assert res.status_code == 404
    assert res.json()["error"]["code"] == "not_found"


# --- delete -----------------------------------------------------------------------------------


def test_upload_delete_by_its_owner_removes_row_file_and_thumbnail(api, uploads, isolated_storage, django_capture_on_commit_callbacks):
    mine = uploads[0]

    with django_capture_on_commit_callbacks(execute=True):
        res = api.delete(f"{URL}{mine.pk}/")

    assert res.status_code == 200
    assert res.json()["res"] == {"id": mine.pk, "deleted": True}
    assert not Upload.objects.filter(pk=mine.pk).exists()
    remaining = {str(p) for p in stored_files(isolated_storage)}
    assert mine.file.name not in remaining and mine.thumbnail.name not in remaining
    assert len(remaining) == 6


def test_upload_delete_of_someone_elses_upload_is_a_403(api, uploads):
    theirs = uploads[3]

    res = api.delete(f"{URL}{theirs.pk}/")

    assert res.status_code == 403
    assert Upload.objects.filter(pk=theirs.pk).exists()


def test_upload_delete_by_staff_works_for_any_upload(staff_api, uploads, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        res = staff_api.delete(f"{URL}{uploads[0].pk}/")

    assert res.status_code == 200
    assert Upload.objects.count() == 3


def test_upload_delete_of_an_unknown_id_is_a_404(api, db):
    assert api.delete(f"{URL}5555/").status_code == 404


def test_upload_delete_by_anonymous_is_a_401(anon, uploads):
    assert anon.delete(f"{URL}{uploads[0].pk}/").status_code == 401
    assert Upload.objects.count() == 4

"""The media services: validation by decoding, sha256 dedupe (also under a race), clean
names, and deletes that take files and frames with them."""

from __future__ import annotations

import io
import threading

import pytest
from django.db import connection

from core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from media_app import services
from media_app.imaging import sharded_name
from media_app.models import Media, MediaType, Upload
from media_app.services import media_create_image, media_delete, upload_create, upload_delete
from tests.images import png_bomb
from tests.storage import stored_files


class _NamedBytes(io.BytesIO):
    """A stream with a declared ``size``, like Django's UploadedFile."""

    def __init__(self, data: bytes, size: int):
        super().__init__(data)
        self.size = size


# --- upload_create -------------------------------------------------------------------


def test_upload_create_stores_the_original_bytes_and_a_thumbnail_under_sharded_names(db, user, isolated_storage, image_bytes):
    data = image_bytes(80, 60, seed=1)

    upload, created = upload_create(stream=io.BytesIO(data), original_name="query.jpg", user=user)

    assert created
    assert upload.file.name == sharded_name("uploads", upload.sha256, "jpg")
    assert upload.thumbnail.name == sharded_name("thumbs", upload.sha256, "jpg")
    assert (isolated_storage / upload.file.name).read_bytes() == data
    assert (upload.width, upload.height, upload.format, upload.byte_size) == (80, 60, "JPEG", len(data))
    assert upload.user == user and upload.username == "curator"
    assert upload.original_name == "query.jpg"


def test_upload_create_of_the_same_bytes_returns_the_existing_record(db, user, isolated_storage, image_bytes):
    data = image_bytes(seed=2, fmt="PNG")
    first, created_first = upload_create(stream=io.BytesIO(data), original_name="a.png", user=user)

    again, created_again = upload_create(stream=io.BytesIO(data), original_name="renamed.png", user=user)

    assert created_first and not created_again
    assert again.pk == first.pk and again.original_name == "a.png"
    assert Upload.objects.count() == 1
    assert len(stored_files(isolated_storage)) == 2  # original + thumbnail, once


@pytest.mark.parametrize(
    "name,expected",
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\windows\\evil.jpg", "evil.jpg"),
        ("/abs/path/photo.jpg", "photo.jpg"),
        ("..", ""),
        ("nul\x00byte.jpg", "nulbyte.jpg"),
    ],
)
def test_upload_create_keeps_only_a_clean_base_name_and_stores_under_the_sha256_path(db, isolated_storage, name, expected, image_bytes):
    upload, _ = upload_create(stream=io.BytesIO(image_bytes(seed=3)), original_name=name)

    assert upload.original_name == expected
    assert upload.file.name == sharded_name("uploads", upload.sha256, "jpg")
    assert all(".." not in str(p) for p in stored_files(isolated_storage))
    assert not (isolated_storage.parent / "etc").exists()


def test_upload_create_of_text_is_rejected_as_not_an_image_and_nothing_is_stored(db, isolated_storage):
    with pytest.raises(UnsupportedMediaType) as exc:
        upload_create(stream=io.BytesIO(b"just some text, honest\n" * 20), original_name="fake.jpg")

    assert exc.value.code == "not_an_image" and exc.value.status == 415
    assert Upload.objects.count() == 0
    assert stored_files(isolated_storage) == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_upload_create_of_a_truncated_image_is_rejected_as_corrupt_and_nothing_is_stored(db, isolated_storage, fmt, keep, image_bytes):
    data = image_bytes(64, 48, seed=4, fmt=fmt)

    with pytest.raises(InvalidInput) as exc:
        upload_create(stream=io.BytesIO(data[: int(len(data) * keep)]))

    assert exc.value.code == "corrupt_image" and exc.value.status == 400
    assert Upload.objects.count() == 0
    assert stored_files(isolated_storage) == []


def test_upload_create_of_a_decompression_bomb_is_too_large_and_nothing_is_stored(db, isolated_storage):
    with pytest.raises(PayloadTooLarge) as exc:
        upload_create(stream=io.BytesIO(png_bomb()))

    assert exc.value.status == 413 and exc.value.code == "too_many_pixels"
    assert stored_files(isolated_storage) == []


def test_upload_create_above_the_pixel_limit_is_too_large(db, settings, isolated_storage, image_bytes):
    settings.MAX_IMAGE_PIXELS = 1000

    with pytest.raises(PayloadTooLarge):
        upload_create(stream=io.BytesIO(image_bytes(64, 48)))

    assert stored_files(isolated_storage) == []


def test_upload_create_above_the_byte_limit_is_too_large(db, settings, isolated_storage, image_bytes):
    data = image_bytes(64, 48, seed=5, fmt="PNG")
    settings.MAX_UPLOAD_BYTES = len(data) - 1

    with pytest.raises(PayloadTooLarge):
        upload_create(stream=io.BytesIO(data))

    assert stored_files(isolated_storage) == []


def test_upload_create_refuses_a_declared_oversize_before_reading_the_stream(db, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    stream = _NamedBytes(b"", size=10_001)

    with pytest.raises(PayloadTooLarge):
        upload_create(stream=stream)

    assert stream.tell() == 0


def test_upload_create_of_an_empty_file_is_invalid(db, isolated_storage):
    with pytest.raises(InvalidInput) as exc:
        upload_create(stream=io.BytesIO(b""))

    assert exc.value.status == 400 and exc.value.code == "empty_file"
    assert stored_files(isolated_storage) == []


def test_upload_create_applies_exif_orientation_to_reported_dimensions(db, image_bytes):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: stored 64x48, shown 48x64
    data = image_bytes(64, 48, seed=6, exif=exif.tobytes())

    upload, _ = upload_create(stream=io.BytesIO(data))

    assert (upload.width, upload.height) == (48, 64)


def test_an_upload_that_loses_the_insert_race_returns_the_winner_and_deletes_its_own_files(db, monkeypatch, isolated_storage, image_bytes):
    """Single-threaded replay of the race (runs on every database): another request
    stores and inserts the same bytes while this one is writing its files."""
    data = image_bytes(64, 48, seed=13)
    original_store = services._store_with_thumbnail
    winners: list = []

    def store_while_another_request_wins(**kwargs):
        names = original_store(**kwargs)
        if not winners:
            winners.append(None)
            winners[0] = upload_create(stream=io.BytesIO(data), original_name="winner.jpg")[0]
        return names

    monkeypatch.setattr(services, "_store_with_thumbnail", store_while_another_request_wins)

    upload, created = upload_create(stream=io.BytesIO(data), original_name="loser.jpg")

    assert not created and upload.pk == winners[0].pk and upload.original_name == "winner.jpg"
    assert Upload.objects.count() == 1
    assert {str(p) for p in stored_files(isolated_storage)} == {upload.file.name, upload.thumbnail.name}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent connections (PostgreSQL); the test SQLite database is a shared in-memory one")
@pytest.mark.django_db(transaction=True)
def test_two_identical_uploads_racing_store_one_record_and_one_set_of_files(monkeypatch, isolated_storage, image_bytes):
    """Both requests pass the "already there?" check before either inserts; the unique
    constraint decides, and the loser returns the winner's row and deletes its files."""
    data = image_bytes(64, 48, seed=7)
    both_checked = threading.Barrier(2, timeout=10)
    original_store = services._store_with_thumbnail

    def store_after_both_checked(**kwargs):
        both_checked.wait()
        return original_store(**kwargs)

    monkeypatch.setattr(services, "_store_with_thumbnail", store_after_both_checked)
    results: list = []
    errors: list = []

    def upload_in_thread():
        try:
            results.append(upload_create(stream=io.BytesIO(data), original_name="race.jpg"))
        except BaseException as exc:  # surfaced by the assertions below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload_in_thread) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].pk == results[1][0].pk
    assert Upload.objects.count() == 1
    upload = Upload.objects.get()
    files = stored_files(isolated_storage)
    assert len(files) == 2  # the loser's copies are gone
    assert {str(p) for p in files} == {upload.file.name, upload.thumbnail.name}
    assert upload.file.name.startswith(f"uploads/{upload.sha256[:2]}/{upload.sha256[2:4]}/{upload.sha256}")


def test_upload_delete_removes_row_file_and_thumbnail_after_commit(db, isolated_storage, django_capture_on_commit_callbacks, image_bytes):
    upload, _ = upload_create(stream=io.BytesIO(image_bytes(seed=8)))

    with django_capture_on_commit_callbacks(execute=True):
        upload_delete(upload=upload)

    assert Upload.objects.count() == 0
    assert stored_files(isolated_storage) == []


# --- media_create_image / media_delete ------------------------------------------------


def test_media_create_image_dedupes_by_sha256_whatever_the_name(db, isolated_storage, image_bytes):
    data = image_bytes(seed=9)
    first, created = media_create_image(stream=io.BytesIO(data), original_name="a.jpg", source_path="/in/a.jpg")
    second, created_again = media_create_image(stream=io.BytesIO(data), original_name="b.jpg", source_path="/in/b.jpg")

    assert created and not created_again and first.pk == second.pk
    assert first.media_type == MediaType.IMAGE and first.source_path == "/in/a.jpg"
    assert first.file.name == sharded_name("media", first.sha256, "jpg")


def test_media_create_image_applies_the_upload_limit_only_when_asked(db, settings, image_bytes):
    data = image_bytes(64, 48, seed=10, fmt="PNG")
    settings.MAX_UPLOAD_BYTES = len(data) - 1

    with pytest.raises(PayloadTooLarge):
        media_create_image(stream=io.BytesIO(data), check_size=True)
    media, created = media_create_image(stream=io.BytesIO(data))

    assert created and media.byte_size == len(data)


def test_media_delete_of_an_image_removes_row_and_files_and_tells_the_indexes(
    db, isolated_storage, monkeypatch, django_capture_on_commit_callbacks, make_image
):
    forgotten: list = []
    monkeypatch.setattr("search_app.indexing.build.feature_forget_media", lambda *, media_ids: forgotten.append(sorted(media_ids)))
    media = make_image(seed=11)
    media_id = media.pk

    with django_capture_on_commit_callbacks(execute=True):
        media_delete(media=media)

    assert not Media.objects.filter(pk=media_id).exists()
    assert stored_files(isolated_storage) == []
    assert forgotten == [[media_id]]


def test_media_delete_of_a_video_removes_its_frames_and_all_their_files(
    db, isolated_storage, monkeypatch, django_capture_on_commit_callbacks, make_video, make_image
):
    forgotten: list = []
    monkeypatch.setattr("search_app.indexing.build.feature_forget_media", lambda *, media_ids: forgotten.append(sorted(media_ids)))
    keep = make_image(seed=12)
    video = make_video(frames=3)
    ids = sorted([video.pk, *video.frames.values_list("pk", flat=True)])

    with django_capture_on_commit_callbacks(execute=True):
        media_delete(media=video)

    assert list(Media.objects.values_list("pk", flat=True)) == [keep.pk]
    assert {str(p) for p in stored_files(isolated_storage)} == {keep.file.name, keep.thumbnail.name}
    assert forgotten == [ids]


def test_media_delete_of_one_frame_keeps_the_video_and_the_other_frames(db, django_capture_on_commit_callbacks, make_video):
    video = make_video(frames=3)
    frame = video.frames.order_by("frame_number").first()

    with django_capture_on_commit_callbacks(execute=True):
        media_delete(media=frame)

    assert video.frames.count() == 2
    assert Media.objects.filter(pk=video.pk).exists()

"""GET/DELETE /api/v1/media/...: the list with paging and filters, one media by id or
sha256 with its sibling frames, totals, a random one, and who may delete."""

from __future__ import annotations

import hashlib

import pytest

from collections_app.models import Collection
from media_app import selectors
from media_app.models import Media
from search_app.models import Feature
from tests.storage import stored_files

MEDIA_KEYS = {
    "id",
    "sha256",
    "media_type",
    "file_url",
    "thumbnail_url",
    "playable_url",
    "width",
    "height",
    "format",
    "byte_size",
    "original_name",
    "source_path",
    "created_at",
    "parent",
    "parent_sha256",
    "frame_number",
    "timestamp",
    "duration",
    "frame_count",
}


@pytest.fixture
def library(make_image, make_video):
    """Two images, then a video with three frames (ids ascending in that order)."""
    images = [make_image(seed=1, name="one.jpg"), make_image(seed=2, name="two.png", fmt="PNG")]
    video = make_video(frames=3)
    frames = list(video.frames.order_by("frame_number"))
    return {"images": images, "video": video, "frames": frames}


# --- list ------------------------------------------------------------------------------


def test_media_list_is_an_enveloped_page_with_every_media(api, library):
    res = api.get("/api/v1/media/")

    assert res.status_code == 200
    body = res.json()
    assert body["status"] == "ok"
    page = body["res"]
    assert page["count"] == 6
    assert (page["offset"], page["sort"], page["order"]) == (0, "id", "asc")
    assert [m["id"] for m in page["results"]] == sorted(m.pk for m in Media.objects.all())
    assert all(set(m) == MEDIA_KEYS for m in page["results"])


def test_media_json_has_absolute_file_urls_served_by_the_files_view(api, library):
    image = library["images"][0]

    item = api.get("/api/v1/media/").json()["res"]["results"][0]

    assert item["file_url"] == f"http://testserver/files/{image.file.name}"
    assert item["thumbnail_url"] == f"http://testserver/files/{image.thumbnail.name}"
    assert item["sha256"] == image.sha256
    assert (item["media_type"], item["width"], item["height"], item["format"]) == ("image", 40, 30, "JPEG")
    assert item["original_name"] == "one.jpg" and item["source_path"] == "/import/image-1.jpg"
    assert item["byte_size"] == image.byte_size


def test_media_json_of_a_frame_names_its_parent_and_of_a_video_counts_its_frames(api, library):
    video, frame = library["video"], library["frames"][1]
    by_id = {m["id"]: m for m in api.get("/api/v1/media/").json()["res"]["results"]}

    assert by_id[frame.pk]["parent"] == video.pk
    assert by_id[frame.pk]["parent_sha256"] == video.sha256
    assert (by_id[frame.pk]["frame_number"], by_id[frame.pk]["timestamp"]) == (25, 1.0)
    assert (by_id[frame.pk]["duration"], by_id[frame.pk]["frame_count"]) == (None, None)
    assert by_id[video.pk]["frame_count"] == 3 and by_id[video.pk]["duration"] == 12.5
    assert by_id[video.pk]["parent"] is None and by_id[video.pk]["frame_number"] is None
    image = by_id[library["images"][0].pk]
    assert [image[k] for k in ("parent", "parent_sha256", "frame_number", "timestamp", "duration", "frame_count")] == [None] * 6


def test_media_list_pages_by_offset_and_limit(api, library):
    all_ids = sorted(Media.objects.values_list("pk", flat=True))

    page = api.get("/api/v1/media/", {"offset": 2, "limit": 3}).json()["res"]

    assert page["count"] == 6 and (page["offset"], page["limit"]) == (2, 3)
    assert [m["id"] for m in page["results"]] == all_ids[2:5]


def test_media_list_sorts_by_date_descending_with_ties_broken_by_id(api, library):
    results = api.get("/api/v1/media/", {"sort": "date", "order": "desc", "limit": 100}).json()["res"]["results"]

    keys = [(m["created_at"], m["id"]) for m in results]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("media_type", ["image", "video", "video_frame"])
def test_media_list_filters_by_media_type(api, library, media_type):
    page = api.get("/api/v1/media/", {"media_type": media_type}).json()["res"]

    assert page["count"] == Media.objects.filter(media_type=media_type).count() > 0
    assert {m["media_type"] for m in page["results"]} == {media_type}


@pytest.mark.parametrize(
    "params,field",
    [
        ({"media_type": "gif"}, "media_type"),
        ({"sort": "name"}, "sort"),
        ({"order": "up"}, "order"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
    ],
)
def test_media_list_with_bad_parameters_is_a_400_naming_the_field(api, db, params, field):
    res = api.get("/api/v1/media/", params)

    assert res.status_code == 400
    assert res.json()["status"] == "error"
    assert field in res.json()["error"]["fields"]


def test_media_list_costs_a_fixed_number_of_queries_however_many_rows(api, library, make_video, make_image, django_assert_max_num_queries):
    for i in range(3):
        make_video(key=f"more-{i}", frames=4)
        make_image(seed=100 + i)

    # token lookup + count + one page query (parent sha256 and frame counts annotated)
    with django_assert_max_num_queries(3):
        res = api.get("/api/v1/media/", {"limit": 100})

    assert res.status_code == 200 and res.json()["res"]["count"] == 24


def test_media_list_needs_authentication(anon, db):
    res = anon.get("/api/v1/media/")

    assert res.status_code == 401
    assert res.json()["error"]["code"] == "not_authenticated"


# --- one media ---------------------------------------------------------------------------


def test_media_by_id_of_a_frame_lists_the_other_frames_of_its_video_in_frame_order(api, library):
    frames = library["frames"]

    res = api.get(f"/api/v1/media/id/{frames[1].pk}/")

    assert res.status_code == 200
    media = res.json()["res"]
    assert media["id"] == frames[1].pk and set(media) == MEDIA_KEYS | {"siblings", "siblings_count"}
    assert media["siblings_count"] == 2
    assert [s["id"] for s in media["siblings"]] == [frames[0].pk, frames[2].pk]
    assert [s["frame_number"] for s in media["siblings"]] == [0, 50]
    sibling = media["siblings"][0]
    assert set(sibling) == {"id", "sha256", "media_type", "thumbnail_url", "frame_number", "timestamp"}
    assert sibling["thumbnail_url"] == f"http://testserver/files/{frames[0].thumbnail.name}"


def test_media_by_id_of_a_video_lists_all_its_frames(api, library):
    res = api.get(f"/api/v1/media/id/{library['video'].pk}/")

    assert [s["id"] for s in res.json()["res"]["siblings"]] == [f.pk for f in library["frames"]]
    assert res.json()["res"]["frame_count"] == 3


def test_media_by_id_of_an_image_has_no_siblings(api, library):
    res = api.get(f"/api/v1/media/id/{library['images'][0].pk}/")

    assert res.json()["res"]["siblings"] == []


def test_media_by_id_costs_a_fixed_number_of_queries(api, library, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):  # token, media, siblings
        res = api.get(f"/api/v1/media/id/{library['frames'][0].pk}/")

    assert len(res.json()["res"]["siblings"]) == 2


def test_a_long_videos_siblings_are_capped_to_the_nearest_frames_and_counted(api, library, settings, django_assert_max_num_queries):
    from media_app.models import Media, MediaType

    video = library["video"]
    Media.objects.bulk_create(
        Media(sha256=f"{n:064x}", media_type=MediaType.VIDEO_FRAME, parent=video, frame_number=1000 + n, file=f"frames/{n}.jpg", byte_size=1)
        for n in range(500)
    )
    settings.MAX_SIBLINGS = 10
    middle = Media.objects.get(parent=video, frame_number=1250)
    with django_assert_max_num_queries(3):  # token, media, siblings with their count
        res = api.get(f"/api/v1/media/id/{middle.pk}/").json()["res"]
    assert res["siblings_count"] == 502  # 3 frames of the library + 500 - itself
    assert [s["frame_number"] for s in res["siblings"]] == [1245, 1246, 1247, 1248, 1249, 1251, 1252, 1253, 1254, 1255]
    res = api.get(f"/api/v1/media/id/{video.pk}/").json()["res"]
    assert res["siblings_count"] == 503 and [s["frame_number"] for s in res["siblings"]][:3] == [0, 25, 50] and len(res["siblings"]) == 10


def test_media_by_unknown_id_is_a_404_envelope(api, db):
    res = api.get("/api/v1/media/id/999999/")

    assert res.status_code == 404
    assert res.json() == {"status": "error", "error": {"code": "not_found", "message": "No media with id 999999."}}


def test_media_by_sha256_finds_it_also_in_upper_case(api, library):
    frame = library["frames"][2]

    lower = api.get(f"/api/v1/media/sha256/{frame.sha256}/")
    upper = api.get(f"/api/v1/media/sha256/{frame.sha256.upper()}/")

    assert lower.status_code == upper.status_code == 200
    assert lower.json()["res"]["id"] == upper.json()["res"]["id"] == frame.pk
    assert [s["id"] for s in lower.json()["res"]["siblings"]] == [f.pk for f in library["frames"][:2]]


def test_media_by_unknown_sha256_is_a_404_envelope(api, db):
    res = api.get(f"/api/v1/media/sha256/{hashlib.sha256(b'nothing').hexdigest()}/")

    assert res.status_code == 404
    assert res.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "a" * 63, "a" * 65, "a" * 62 + "--"])
def test_media_by_malformed_sha256_is_a_400(api, db, bad):
    res = api.get(f"/api/v1/media/sha256/{bad}/")

    assert res.status_code == 400
    assert res.json()["error"]["code"] == "invalid_sha256"
    assert "sha256" in res.json()["error"]["fields"]


# --- delete ---------------------------------------------------------------------------------


def test_media_delete_by_a_curator_is_forbidden_and_keeps_everything(api, library, isolated_storage):
    image = library["images"][0]
    files_before = stored_files(isolated_storage)

    res = api.delete(f"/api/v1/media/id/{image.pk}/")

    assert res.status_code == 403
    assert res.json()["error"]["code"] == "permission_denied"
    assert Media.objects.filter(pk=image.pk).exists()
    assert stored_files(isolated_storage) == files_before


def test_media_delete_by_anonymous_is_a_401(anon, library):
    res = anon.delete(f"/api/v1/media/id/{library['images'][0].pk}/")

    assert res.status_code == 401


def test_media_delete_by_staff_removes_the_row_and_its_files(staff_api, library, isolated_storage, django_capture_on_commit_callbacks):
    image = library["images"][0]
    names = {image.file.name, image.thumbnail.name}

    with django_capture_on_commit_callbacks(execute=True):
        res = staff_api.delete(f"/api/v1/media/id/{image.pk}/")

    assert res.status_code == 200
    assert res.json() == {"status": "ok", "res": {"id": image.pk, "deleted": True}}
    assert not Media.objects.filter(pk=image.pk).exists()
    assert names.isdisjoint(str(p) for p in stored_files(isolated_storage))


def test_media_delete_of_a_video_by_staff_removes_its_frames(staff_api, library, django_capture_on_commit_callbacks):
    video = library["video"]

    with django_capture_on_commit_callbacks(execute=True):
        res = staff_api.delete(f"/api/v1/media/id/{video.pk}/")

    assert res.status_code == 200
    assert not Media.objects.filter(pk__in=[video.pk, *(f.pk for f in library["frames"])]).exists()
    assert Media.objects.count() == 2


def test_media_delete_of_an_unknown_id_by_staff_is_a_404(staff_api, db):
    res = staff_api.delete("/api/v1/media/id/424242/")

    assert res.status_code == 404


# --- info -------------------------------------------------------------------------------------


def test_media_info_counts_media_by_type_uploads_collections_features_and_bytes(api, library, user):
    from media_app.models import Upload

    Upload.objects.create(sha256="f" * 64, file="uploads/ff/ff/x.jpg", byte_size=1000)
    Collection.objects.create(title="c1")
    Collection.objects.create(title="c2")
    Feature.objects.create(modelzoo_name="resnet18")
    expected_bytes = sum(Media.objects.values_list("byte_size", flat=True)) + 1000

    res = api.get("/api/v1/media/info/")

    assert res.status_code == 200
    info = res.json()["res"]
    assert info["media"] == {"total": 6, "image": 2, "video": 1, "video_frame": 3}
    assert (info["uploads"], info["collections"], info["features"]) == (1, 2, 1)
    assert info["bytes_stored"] == expected_bytes
    assert isinstance(info["disk_free"], int) and isinstance(info["disk_total"], int)
    assert 0 <= info["disk_free"] <= info["disk_total"]


def test_media_info_on_an_empty_database_is_all_zeros(api, db):
    info = api.get("/api/v1/media/info/").json()["res"]

    assert info["media"] == {"total": 0, "image": 0, "video": 0, "video_frame": 0}
    assert (info["uploads"], info["collections"], info["features"], info["bytes_stored"]) == (0, 0, 0, 0)


def test_media_info_reports_null_disk_figures_when_the_data_dir_cannot_be_read(api, db, monkeypatch):
    def unreadable(path):
        raise OSError("gone")

    monkeypatch.setattr(selectors.shutil, "disk_usage", unreadable)

    info = api.get("/api/v1/media/info/").json()["res"]

    assert info["disk_free"] is None and info["disk_total"] is None


# --- random ------------------------------------------------------------------------------------


def test_media_random_on_an_empty_database_is_a_404_envelope(api, db):
    res = api.get("/api/v1/media/random/")

    assert res.status_code == 404
    assert res.json()["status"] == "error" and res.json()["error"]["code"] == "not_found"


def test_media_random_returns_one_existing_media_with_siblings(api, library):
    ids = set(Media.objects.values_list("pk", flat=True))

    for _ in range(5):
        res = api.get("/api/v1/media/random/")
        assert res.status_code == 200
        assert res.json()["res"]["id"] in ids
        assert "siblings" in res.json()["res"]


def test_media_random_takes_the_first_id_at_or_above_a_random_pick(api, make_image, monkeypatch):
    low, high = make_image(seed=1), make_image(seed=2)
    Media.objects.filter(pk=high.pk).update(id=high.pk + 10)  # a gap of deleted ids
    monkeypatch.setattr(selectors.random, "randint", lambda a, b: low.pk + 1)

    res = api.get("/api/v1/media/random/")

    assert res.json()["res"]["id"] == high.pk + 10


def test_media_random_can_be_limited_to_one_media_type(api, library):
    for _ in range(5):
        assert api.get("/api/v1/media/random/", {"media_type": "video"}).json()["res"]["id"] == library["video"].pk
    assert api.get("/api/v1/media/random/", {"media_type": "nope"}).status_code == 400


def test_media_random_does_not_sort_the_table_randomly(api, library, django_assert_max_num_queries):
    with django_assert_max_num_queries(4) as captured:  # token, min/max, pick, siblings
        api.get("/api/v1/media/random/")

    assert not any("RANDOM()" in q["sql"].upper() for q in captured.captured_queries)


def test_media_list_with_an_offset_beyond_any_table_is_a_400_not_a_database_error(api, db):
    res = api.get("/api/v1/media/", {"offset": str(10**23)})

    assert res.status_code == 400
    assert "offset" in res.json()["error"]["fields"]


def test_a_videos_playable_url_is_its_copy_else_its_original_and_null_for_images(api, make_video, make_image):
    video = make_video(frames=1)
    image = make_image(seed=3)

    def ok(res):
        assert res.status_code == 200, res.content
        return res.json()["res"]

    plays = ok(api.get(f"/api/v1/media/id/{video.pk}/"))
    assert plays["playable_url"] == plays["file_url"]
    Media.objects.filter(pk=video.pk).update(playable="media/aa/bb/copy.playable.mp4")
    copied = ok(api.get(f"/api/v1/media/id/{video.pk}/"))
    assert copied["playable_url"].endswith("/files/media/aa/bb/copy.playable.mp4") and copied["file_url"] == plays["file_url"]
    assert ok(api.get(f"/api/v1/media/id/{image.pk}/"))["playable_url"] is None

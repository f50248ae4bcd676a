"""Admin for Media and Upload: pages render for staff, rows cannot be added by hand,
deletes go through the services, and selected media can be added to a collection."""

from __future__ import annotations

import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission

from collections_app.models import Collection, CollectionMedia
from media_app.models import Media, Upload
from media_app.services import upload_create
from tests.storage import stored_files

CHANGELIST = "/admin/media_app/media/"


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="root-pass-123", email="root@example.org")
    client.force_login(admin)
    client.user = admin
    return client


@pytest.fixture
def library(make_image, make_video):
    images = [make_image(seed=1, name="one.jpg"), make_image(seed=2, name="two.jpg")]
    video = make_video(frames=2)
    return {"images": images, "video": video, "frames": list(video.frames.order_by("frame_number"))}


@pytest.fixture
def upload(db, image_bytes):
    upload, _ = upload_create(stream=io.BytesIO(image_bytes(seed=9)), original_name="query.jpg", username="curator")
    return upload


def test_media_changelist_renders_with_thumbnails_for_a_superuser(admin_client, library):
    res = admin_client.get(CHANGELIST)

    assert res.status_code == 200
    html = res.content.decode()
    assert f'<img src="/files/{library["images"][0].thumbnail.name}"' in html
    assert "one.jpg" in html and "40×30" in html
    assert "Add selected media to a collection" in html


@pytest.mark.parametrize(
    "query",
    ["media_type__exact=video_frame", "format__exact=JPEG", "created_at__gte=2000-01-01+00%3A00%3A00%2B00%3A00", "q=one.jpg", "o=-6"],
)
def test_media_changelist_filters_search_and_sorting_render(admin_client, library, query):
    assert admin_client.get(f"{CHANGELIST}?{query}").status_code == 200


def test_media_changelist_search_finds_by_sha256(admin_client, library):
    image = library["images"][1]

    res = admin_client.get(CHANGELIST, {"q": image.sha256})

    assert list(res.context["cl"].result_list) == [image]


def test_media_change_page_renders_with_read_only_hash_and_sizes(admin_client, library):
    frame = library["frames"][0]

    res = admin_client.get(f"{CHANGELIST}{frame.pk}/change/")

    assert res.status_code == 200
    form_fields = res.context["adminform"].form.fields
    assert "sha256" not in form_fields and "byte_size" not in form_fields and "width" not in form_fields
    assert "parent" not in form_fields  # a frame's video is provenance: shown, linked, not edited
    assert frame.sha256 in res.content.decode()


def test_media_cannot_be_added_by_hand(admin_client, db):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_media_deleted_in_the_admin_loses_its_files(admin_client, library, isolated_storage, django_capture_on_commit_callbacks):
    image = library["images"][0]

    with django_capture_on_commit_callbacks(execute=True):
        res = admin_client.post(f"{CHANGELIST}{image.pk}/delete/", {"post": "yes"})

    assert res.status_code == 302
    assert not Media.objects.filter(pk=image.pk).exists()
    assert image.file.name not in {str(p) for p in stored_files(isolated_storage)}


def test_bulk_delete_of_a_video_and_its_frames_in_the_admin(admin_client, library, isolated_storage, django_capture_on_commit_callbacks):
    video, frames = library["video"], library["frames"]
    selected = [frames[0].pk, video.pk, frames[1].pk]

    with django_capture_on_commit_callbacks(execute=True):
        res = admin_client.post(CHANGELIST, {"action": "delete_selected", ACTION_CHECKBOX_NAME: selected, "post": "yes"})

    assert res.status_code == 302
    assert set(Media.objects.values_list("pk", flat=True)) == {m.pk for m in library["images"]}
    assert len(stored_files(isolated_storage)) == 4  # the two images and their thumbnails


def test_add_to_collection_action_first_asks_which_collection(admin_client, library):
    Collection.objects.create(title="Evidence A")
    selected = [m.pk for m in library["images"]]

    res = admin_client.post(CHANGELIST, {"action": "add_to_collection", ACTION_CHECKBOX_NAME: selected})

    assert res.status_code == 200
    html = res.content.decode()
    assert "Evidence A" in html and 'name="apply"' in html
    for pk in selected:
        assert f'name="{ACTION_CHECKBOX_NAME}" value="{pk}"' in html
    assert CollectionMedia.objects.count() == 0


def test_add_to_collection_action_adds_the_selected_media(admin_client, library):
    collection = Collection.objects.create(title="Evidence A")
    selected = [library["images"][0].pk, library["frames"][1].pk]

    res = admin_client.post(
        CHANGELIST, {"action": "add_to_collection", ACTION_CHECKBOX_NAME: selected, "apply": "yes", "collection": collection.pk}, follow=True
    )

    assert res.status_code == 200
    assert set(collection.items.values_list("media_id", flat=True)) == set(selected)
    assert set(collection.items.values_list("user", flat=True)) == {admin_client.user.pk}
    assert "Added 2 media to “Evidence A”." in [str(m) for m in res.context["messages"]]


def test_add_to_collection_action_reports_media_already_in_the_collection(admin_client, library):
    from collections_app.services import collection_add_media

    collection = Collection.objects.create(title="Evidence B")
    first, second = library["images"]
    collection_add_media(collection=collection, media=first, user=admin_client.user)

    res = admin_client.post(
        CHANGELIST, {"action": "add_to_collection", ACTION_CHECKBOX_NAME: [first.pk, second.pk], "apply": "yes", "collection": collection.pk}, follow=True
    )

    assert collection.items.count() == 2
    assert "Added 1 media to “Evidence B”; 1 were already in it." in [str(m) for m in res.context["messages"]]


def test_add_to_collection_action_without_a_choice_shows_the_form_again(admin_client, library):
    res = admin_client.post(CHANGELIST, {"action": "add_to_collection", ACTION_CHECKBOX_NAME: [library["images"][0].pk], "apply": "yes"})

    assert res.status_code == 200
    assert res.context["form"].errors
    assert CollectionMedia.objects.count() == 0


def test_add_to_collection_action_across_all_pages_applies_to_every_filtered_match(admin_client, library):
    collection = Collection.objects.create(title="All frames")
    # What the change list posts after "select all": this page's ids plus select_across.
    on_page = [f.pk for f in library["frames"]][:1]
    url = f"{CHANGELIST}?media_type__exact=video_frame"

    form = admin_client.post(url, {"action": "add_to_collection", "select_across": "1", ACTION_CHECKBOX_NAME: on_page})
    admin_client.post(url, {"action": "add_to_collection", "select_across": "1", ACTION_CHECKBOX_NAME: on_page, "apply": "yes", "collection": collection.pk})

    assert 'name="select_across" value="1"' in form.content.decode()
    assert form.context["item_count"] == 2
    assert set(collection.items.values_list("media_id", flat=True)) == {f.pk for f in library["frames"]}


def test_add_to_collection_action_is_hidden_from_staff_who_may_not_add_to_collections(client, django_user_model, library):
    viewer = django_user_model.objects.create_user(username="viewer", password="viewer-pass-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_media"))
    client.force_login(viewer)

    res = client.get(CHANGELIST)

    assert res.status_code == 200
    assert "Add selected media to a collection" not in res.content.decode()


def test_upload_changelist_and_change_page_render(admin_client, upload):
    changelist = admin_client.get("/admin/media_app/upload/")
    change = admin_client.get(f"/admin/media_app/upload/{upload.pk}/change/")

    assert changelist.status_code == 200 and change.status_code == 200
    assert f'<img src="/files/{upload.thumbnail.name}"' in changelist.content.decode()
    assert "query.jpg" in changelist.content.decode()
    assert admin_client.get("/admin/media_app/upload/", {"q": upload.sha256[:12]}).context["cl"].result_count == 1


def test_upload_deleted_in_the_admin_loses_its_files(admin_client, upload, isolated_storage, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        res = admin_client.post("/admin/media_app/upload/", {"action": "delete_selected", ACTION_CHECKBOX_NAME: [upload.pk], "post": "yes"})

    assert res.status_code == 302
    assert Upload.objects.count() == 0
    assert stored_files(isolated_storage) == []


def test_uploads_cannot_be_added_by_hand(admin_client, db):
    assert admin_client.get("/admin/media_app/upload/add/").status_code == 403


def test_provenance_is_shown_but_not_editable(admin_client, library, upload):
    image = library["images"][0]
    page = admin_client.get(f"{CHANGELIST}{image.pk}/change/").content.decode()
    for field in ("original_name", "source_path", "sha256", "parent"):
        assert f'name="{field}"' not in page, field
    assert image.source_path in page and image.sha256 in page

    # A forged POST cannot change them either.
    admin_client.post(f"{CHANGELIST}{image.pk}/change/", {"original_name": "renamed.jpg", "source_path": "/elsewhere"})
    image.refresh_from_db()
    assert image.original_name == "one.jpg" and image.source_path != "/elsewhere"
    assert 'name="original_name"' not in admin_client.get(f"/admin/media_app/upload/{upload.pk}/change/").content.decode()


def test_add_to_collection_lists_active_collections_with_their_item_counts(admin_client, library):
    from collections_app.services import collection_add_media

    full = Collection.objects.create(title="Convoy", username="ana")
    for image in library["images"]:
        collection_add_media(collection=full, media=image, user=None)
    Collection.objects.create(title="Closed", archived=True)
    selected = [str(m.pk) for m in library["images"]]

    page = admin_client.post(CHANGELIST, {"action": "add_to_collection", ACTION_CHECKBOX_NAME: selected}).content.decode()

    assert f"Convoy · 2 items · by ana · #{full.pk}" in page
    assert "Closed" not in page


def test_records_link_to_their_pages(admin_client, library, upload):
    image, video = library["images"][0], library["video"]
    assert f'href="/media/{image.pk}/"' in admin_client.get(f"{CHANGELIST}{image.pk}/change/").content.decode()
    assert f'href="/media/{video.pk}/"' in admin_client.get(f"{CHANGELIST}{video.pk}/change/").content.decode()
    assert f'href="/?upload={upload.pk}"' in admin_client.get(f"/admin/media_app/upload/{upload.pk}/change/").content.decode()

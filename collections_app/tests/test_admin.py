"""Admin of collections and memberships: pages load, counts without N+1, media picked by id."""

from __future__ import annotations

import pytest
from django.contrib import admin

from collections_app.admin import CollectionAdmin, CollectionMediaAdmin
from collections_app.models import Collection, CollectionMedia
from collections_app.services import collection_add_media

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/collections_app/collection/"
MEMBERSHIPS = "/admin/collections_app/collectionmedia/"


def test_both_models_are_registered_with_media_picked_by_id():
    assert isinstance(admin.site._registry[Collection], CollectionAdmin)
    assert isinstance(admin.site._registry[CollectionMedia], CollectionMediaAdmin)
    assert "media" in CollectionMediaAdmin.raw_id_fields
    (inline,) = CollectionAdmin.inlines
    assert inline.model is CollectionMedia and "media" in inline.raw_id_fields


def test_changelist_shows_title_user_item_count_archived_and_dates(admin_client, make_collection, make_media, user):
    collection = make_collection("Convoy")
    for seed in (1, 2):
        collection_add_media(collection=collection, media=make_media(seed), user=user)
    Collection.objects.filter(pk=collection.pk).update(archived=True)  # filled, then closed
    res = admin_client.get(CHANGELIST)
    assert res.status_code == 200
    html = res.content.decode()
    assert "Convoy" in html
    for column in ("column-title", "column-user", "column-item_count", "column-archived", "column-created_at", "column-updated_at"):
        assert column in html
    assert '<td class="field-item_count">2</td>' in html


def test_changelist_runs_a_fixed_number_of_queries_however_many_collections(admin_client, make_collection, make_media, user, django_assert_max_num_queries):
    media = [make_media(seed) for seed in range(3)]
    for i in range(15):
        collection = make_collection(f"C{i}")
        for item in media[: i % 4]:
            collection_add_media(collection=collection, media=item, user=user)
    with django_assert_max_num_queries(8):
        res = admin_client.get(CHANGELIST)
    assert res.status_code == 200
    assert res.content.decode().count('class="field-item_count"') == 15


def test_changelist_sorts_by_item_count(admin_client, make_collection, make_media, user):
    small, big = make_collection("Small"), make_collection("Big")
    for seed in (1, 2):
        collection_add_media(collection=big, media=make_media(seed), user=user)
    collection_add_media(collection=small, media=make_media(3), user=user)
    html = admin_client.get(CHANGELIST, {"o": "-4"}).content.decode()  # 4th column: item_count
    assert html.index(">Big<") < html.index(">Small<")


def test_changelist_filters_on_archived(admin_client, make_collection):
    make_collection("Old case", archived=True)
    make_collection("Open case")
    html = admin_client.get(CHANGELIST, {"archived__exact": "1"}).content.decode()
    assert "Old case" in html and "Open case" not in html


@pytest.mark.parametrize("query", ["convoy", "dawn", "alice"])
def test_changelist_searches_title_notes_and_username(admin_client, make_collection, query):
    make_collection("Convoy", notes="seen at dawn", username="alice")
    make_collection("Unrelated")
    html = admin_client.get(CHANGELIST, {"q": query}).content.decode()
    assert ">Convoy<" in html and "Unrelated" not in html


def test_change_page_shows_memberships_inline_with_a_raw_id_media_field(admin_client, make_collection, make_media, user):
    collection = make_collection("Case", notes="**bold** <script>x()</script>")
    media = make_media(1)
    collection_add_media(collection=collection, media=media, user=user)
    res = admin_client.get(f"{CHANGELIST}{collection.pk}/change/")
    assert res.status_code == 200
    html = res.content.decode()
    assert 'name="items-0-media"' in html
    assert "vForeignKeyRawIdAdminField" in html
    assert f'value="{media.pk}"' in html
    assert "<strong>bold</strong>" in html  # rendered notes preview
    assert "<script>x()</script>" not in html


def test_adding_a_collection_in_the_admin_attributes_it_to_the_admin(admin_client, admin_user):
    res = admin_client.post(
        f"{CHANGELIST}add/",
        {
            "title": "From admin",
            "username": "",
            "notes": "",
            "items-TOTAL_FORMS": "0",
            "items-INITIAL_FORMS": "0",
            "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "1000",
        },
    )
    assert res.status_code == 302, res.content.decode()[:2000]
    collection = Collection.objects.get()
    assert (collection.title, collection.user, collection.username) == ("From admin", admin_user, admin_user.username)


def _inline_post(collection, media_ids: list[int]) -> dict:
    data = {
        "title": collection.title,
        "username": collection.username,
        "notes": collection.notes,
        "items-TOTAL_FORMS": str(len(media_ids)),
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
    }
    for index, media_id in enumerate(media_ids):
        data[f"items-{index}-media"] = str(media_id)
        data[f"items-{index}-username"] = ""
        data[f"items-{index}-user"] = ""
        data[f"items-{index}-collection"] = str(collection.pk)
    return data


def test_adding_media_through_the_inline_attributes_it_to_the_admin(admin_client, admin_user, make_collection, make_media):
    collection, media = make_collection(), make_media(1)
    res = admin_client.post(f"{CHANGELIST}{collection.pk}/change/", _inline_post(collection, [media.pk]))
    assert res.status_code == 302, res.content.decode()[:3000]
    membership = CollectionMedia.objects.get()
    assert (membership.media, membership.user, membership.username) == (media, admin_user, admin_user.username)


def test_adding_media_already_in_the_collection_through_the_inline_is_a_form_error(admin_client, make_collection, make_media, user):
    collection, media = make_collection(), make_media(1)
    collection_add_media(collection=collection, media=media, user=user)
    data = _inline_post(collection, [media.pk])
    # The existing membership is form 0 (initial); the duplicate is form 1.
    existing = CollectionMedia.objects.get()
    data.update(
        {
            "items-TOTAL_FORMS": "2",
            "items-INITIAL_FORMS": "1",
            "items-0-id": str(existing.pk),
            "items-1-media": str(media.pk),
            "items-1-username": "",
            "items-1-user": "",
            "items-1-collection": str(collection.pk),
        }
    )
    res = admin_client.post(f"{CHANGELIST}{collection.pk}/change/", data)
    assert res.status_code == 200  # the form again, with the error, not a 500
    assert "errorlist" in res.content.decode()
    assert CollectionMedia.objects.count() == 1


def test_membership_changelist_and_add_page_load(admin_client, make_collection, make_media, user):
    collection, media = make_collection("Case"), make_media(1)
    membership, _ = collection_add_media(collection=collection, media=media, user=user)
    res = admin_client.get(MEMBERSHIPS)
    assert res.status_code == 200 and "Case" in res.content.decode()
    res = admin_client.get(f"{MEMBERSHIPS}add/")
    assert res.status_code == 200
    html = res.content.decode()
    assert 'name="media"' in html and "vForeignKeyRawIdAdminField" in html
    assert admin_client.get(f"{MEMBERSHIPS}{membership.pk}/change/").status_code == 200


def test_membership_changelist_searches_by_sha256(admin_client, make_collection, make_media, user):
    collection = make_collection("Case")
    a, b = make_media(1), make_media(2)
    collection_add_media(collection=collection, media=a, user=user)
    collection_add_media(collection=collection, media=b, user=user)
    res = admin_client.get(MEMBERSHIPS, {"q": a.sha256})
    assert "1 result" in res.content.decode()


def test_non_staff_users_cannot_reach_the_admin(client, user):
    client.force_login(user)
    res = client.get(CHANGELIST)
    assert res.status_code == 302 and "/admin/login/" in res["Location"]


def _age(collection) -> None:
    Collection.objects.filter(pk=collection.pk).update(updated_at="2020-01-01T00:00:00Z")


def _updated_recently(collection) -> bool:
    collection.refresh_from_db()
    return collection.updated_at.year > 2020


def test_saving_a_collection_in_the_admin_bumps_updated_at(admin_client, make_collection):
    collection = make_collection("Case")
    _age(collection)
    res = admin_client.post(f"{CHANGELIST}{collection.pk}/change/", {**_inline_post(collection, []), "title": "Renamed"})
    assert res.status_code == 302, res.content.decode()[:2000]
    assert _updated_recently(collection)


def test_memberships_changed_on_their_own_admin_pages_bump_their_collections(admin_client, make_collection, make_media, user):
    collection, other = make_collection("Case"), make_collection("Other")
    media = make_media(1)
    _age(collection)
    res = admin_client.post(f"{MEMBERSHIPS}add/", {"collection": collection.pk, "media": media.pk, "username": "", "user": ""})
    assert res.status_code == 302, res.content.decode()[:2000]
    assert _updated_recently(collection)
    membership = CollectionMedia.objects.get()
    _age(collection)
    _age(other)
    res = admin_client.post(f"{MEMBERSHIPS}{membership.pk}/change/", {"collection": other.pk, "media": media.pk, "username": "", "user": ""})
    assert res.status_code == 302, res.content.decode()[:2000]
    assert _updated_recently(collection) and _updated_recently(other)  # left one, joined the other
    _age(other)
    res = admin_client.post(MEMBERSHIPS, {"action": "delete_selected", "_selected_action": [membership.pk], "post": "yes"})
    assert res.status_code == 302
    assert not CollectionMedia.objects.exists() and _updated_recently(other)


def test_the_admin_refuses_notes_beyond_the_limits_like_the_api(admin_client, make_collection):
    collection = make_collection("Case", notes="kept")
    notes = "\n".join("    " * level + "- item" for level in range(40))
    res = admin_client.post(f"{CHANGELIST}{collection.pk}/change/", {**_inline_post(collection, []), "notes": notes})
    assert res.status_code == 200
    assert "Lists and quotes may nest at most 20 levels deep" in res.content.decode()
    collection.refresh_from_db()
    assert collection.notes == "kept"


def test_memberships_show_thumbnails_and_link_to_the_collection_page(admin_client, make_collection, make_media, user):
    collection = make_collection("Case")
    media = make_media(1)
    membership, _ = collection_add_media(collection=collection, media=media, user=user)

    inline = admin_client.get(f"{CHANGELIST}{collection.pk}/change/").content.decode()
    listing = admin_client.get("/admin/collections_app/collectionmedia/").content.decode()
    one = admin_client.get(f"/admin/collections_app/collectionmedia/{membership.pk}/change/").content.decode()

    assert media.thumbnail.name in inline and media.thumbnail.name in listing
    assert f'href="/collections/{collection.pk}/"' in inline and f'href="/collections/{collection.pk}/"' in one
    assert str(collection) == f"Case #{collection.pk}"  # "(n)" is an item count everywhere else

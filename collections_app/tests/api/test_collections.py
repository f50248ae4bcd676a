"""Collection API: every route, its envelope, its bad inputs, its permissions."""

from __future__ import annotations

import io
import zipfile

import pytest

from collections_app.models import Collection, CollectionMedia
from collections_app.services import collection_add_media
from media_app.models import Media

pytestmark = pytest.mark.django_db

BASE = "/api/v1/collection/"


def ok(res, status: int = 200):
    assert res.status_code == status, res.content
    body = res.json()
    assert body["status"] == "ok"
    return body["res"]


def error(res, status: int):
    assert res.status_code == status, res.content
    body = res.json()
    assert body["status"] == "error"
    return body["error"]


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", ""),
        ("post", ""),
        ("get", "1/"),
        ("put", "1/"),
        ("patch", "1/"),
        ("delete", "1/"),
        ("get", "1/export/"),
        ("post", "1/media/"),
        ("delete", "1/media/1/"),
    ],
)
def test_every_route_answers_401_in_the_envelope_without_credentials(anon, method, path):
    err = error(getattr(anon, method)(BASE + path, format="json"), 401)
    assert err["code"] == "not_authenticated"


# --- list ---------------------------------------------------------------------------------


def test_list_is_empty_with_paging_fields(api):
    res = ok(api.get(BASE))
    assert res == {"count": 0, "offset": 0, "limit": 30, "sort": "id", "order": "asc", "results": []}


def test_list_shows_each_collection_with_its_item_count(api, make_collection, make_media, user):
    empty = make_collection("Empty")
    full = make_collection("Full", notes="n")
    for seed in (1, 2, 3):
        collection_add_media(collection=full, media=make_media(seed), user=user)
    Collection.objects.filter(pk=full.pk).update(archived=True)  # filled, then closed
    res = ok(api.get(BASE))
    assert res["count"] == 2
    by_id = {row["id"]: row for row in res["results"]}
    assert by_id[empty.pk]["item_count"] == 0
    assert by_id[full.pk]["item_count"] == 3
    assert set(by_id[full.pk]) == {"id", "title", "username", "notes", "archived", "item_count", "created_at", "updated_at"}
    assert (by_id[full.pk]["title"], by_id[full.pk]["archived"], by_id[full.pk]["username"]) == ("Full", True, "curator")


def test_list_pages_with_offset_limit_and_sorts_by_id_desc(api, make_collection):
    ids = [make_collection(f"C{i}").pk for i in range(5)]
    res = ok(api.get(BASE, {"offset": 1, "limit": 2, "sort": "id", "order": "desc"}))
    assert res["count"] == 5
    assert [row["id"] for row in res["results"]] == sorted(ids, reverse=True)[1:3]


def test_list_sorts_by_date(api, make_collection):
    ids = [make_collection(f"C{i}").pk for i in range(3)]
    res = ok(api.get(BASE, {"sort": "date", "order": "asc"}))
    assert [row["id"] for row in res["results"]] == ids


@pytest.mark.parametrize("params", [{"offset": "-1"}, {"limit": "0"}, {"limit": "100000"}, {"sort": "title"}, {"order": "up"}, {"offset": "x"}])
def test_list_with_bad_paging_params_is_400(api, params):
    err = error(api.get(BASE, params), 400)
    assert err["code"] == "invalid"
    assert set(err["fields"]) == set(params)


@pytest.mark.parametrize("value, expected", [("true", {"Archived"}), ("false", {"Active"}), ("TRUE", {"Archived"}), ("", {"Archived", "Active"})])
def test_list_filters_on_archived(api, make_collection, value, expected):
    make_collection("Archived", archived=True)
    make_collection("Active")
    res = ok(api.get(BASE, {"archived": value}))
    assert {row["title"] for row in res["results"]} == expected


@pytest.mark.parametrize("value", ["yes", "1", "maybe"])
def test_list_with_an_invalid_archived_filter_is_400(api, value):
    err = error(api.get(BASE, {"archived": value}), 400)
    assert "archived" in err["fields"]


def test_list_runs_a_fixed_number_of_queries_however_many_collections(api, make_collection, make_media, user, django_assert_max_num_queries):
    media = [make_media(seed) for seed in range(3)]
    for i in range(12):
        collection = make_collection(f"C{i}")
        for item in media[: i % 4]:
            collection_add_media(collection=collection, media=item, user=user)
    # token lookup, count, page
    with django_assert_max_num_queries(3):
        res = ok(api.get(BASE, {"limit": 50}))
    assert len(res["results"]) == 12
    assert sum(row["item_count"] for row in res["results"]) == sum(i % 4 for i in range(12))


# --- create -------------------------------------------------------------------------------


def test_create_answers_201_with_the_collection_attributed_to_the_caller(api, user):
    res = ok(api.post(BASE, {"title": "Convoy", "notes": "**bold**", "archived": True}, format="json"), 201)
    collection = Collection.objects.get()
    assert res["id"] == collection.pk
    assert (res["title"], res["notes"], res["archived"], res["username"], res["item_count"]) == ("Convoy", "**bold**", True, "curator", 0)
    assert res["notes_html"] == "<p><strong>bold</strong></p>"
    assert res["items"]["count"] == 0 and res["items"]["results"] == []
    assert collection.user == user


def test_create_with_only_a_title_uses_defaults(api):
    res = ok(api.post(BASE, {"title": "T"}, format="json"), 201)
    assert (res["notes"], res["archived"], res["username"]) == ("", False, "curator")


def test_create_with_the_callers_own_username_is_allowed(api):
    res = ok(api.post(BASE, {"title": "T", "username": "curator"}, format="json"), 201)
    assert res["username"] == "curator"


def test_create_with_a_blank_username_defaults_to_the_caller(api):
    res = ok(api.post(BASE, {"title": "T", "username": ""}, format="json"), 201)
    assert res["username"] == "curator"


def test_create_on_behalf_of_another_user_by_a_non_staff_user_is_400(api):
    err = error(api.post(BASE, {"title": "T", "username": "alice"}, format="json"), 400)
    assert "username" in err["fields"]
    assert not Collection.objects.exists()


def test_create_on_behalf_of_another_user_by_staff_is_allowed(staff_api, staff):
    res = ok(staff_api.post(BASE, {"title": "T", "username": "alice"}, format="json"), 201)
    assert res["username"] == "alice"
    assert Collection.objects.get().user == staff


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": None}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": "T", "archived": "yes"}, "archived"),
        ({"title": "T", "archived": 1}, "archived"),
        ({"title": "T", "archived": None}, "archived"),
        ({"title": "T", "notes": ["a"]}, "notes"),
        ({"title": "T", "username": "u" * 151}, "username"),
        ({"title": {"a": 1}}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "T", "notes": "nul\x00byte"}, "notes"),
    ],
)
def test_create_with_invalid_fields_is_400_with_the_field_named(api, body, field):
    err = error(api.post(BASE, body, format="json"), 400)
    assert err["code"] == "invalid"
    assert field in err["fields"]
    assert not Collection.objects.exists()


def test_create_with_malformed_json_is_400_in_the_envelope(api):
    err = error(api.post(BASE, data='{"title": "T",', content_type="application/json"), 400)
    assert err["code"] == "invalid"
    assert "JSON" in err["message"]


def test_create_with_a_json_array_body_is_400(api):
    error(api.post(BASE, data='["T"]', content_type="application/json"), 400)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"])
def test_create_with_a_non_json_body_is_415(api, content_type):
    err = error(api.post(BASE, data="title=T", content_type=content_type), 415)
    assert err["code"] == "unsupported_media_type"
    assert not Collection.objects.exists()


def test_notes_html_is_sanitized(api):
    notes = '<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src="https://tracker.example/p.png"> <b onclick="x()">b</b>'
    res = ok(api.post(BASE, {"title": "T", "notes": notes}, format="json"), 201)
    html = res["notes_html"]
    assert "<script" not in html and "alert" not in html
    assert "javascript:" not in html
    assert "<img" not in html and "tracker.example" not in html
    assert "onclick" not in html
    assert "<b>b</b>" in html
    assert res["notes"] == notes  # stored as written


def test_unsupported_method_on_the_list_is_405(api):
    err = error(api.put(BASE, {}, format="json"), 405)
    assert err["code"] == "method_not_allowed"


def _nested_list(levels: int) -> str:
    return "\n".join("    " * level + "- item" for level in range(levels))


@pytest.mark.parametrize(
    "notes, says",
    [
        ("x" * 50_001, "limited to 50000 characters"),
        (_nested_list(300), "limited to 50000 characters"),  # the 180 KB list of the report
        (_nested_list(40), "nest at most 20 levels"),
        ("> " * 30 + "deep", "nest at most 20 levels"),
        ("```a\n" * 5000, "never closed"),
    ],
    ids=["long", "nested-300", "nested-40", "quotes-30", "unclosed-fences"],
)
def test_notes_beyond_the_limits_are_refused_at_write_naming_notes_and_the_limit(api, make_collection, notes, says):
    err = error(api.post(BASE, {"title": "T", "notes": notes}, format="json"), 400)
    assert says in err["fields"]["notes"][0], err
    assert not Collection.objects.exists()
    collection = make_collection(notes="kept")
    err = error(api.patch(f"{BASE}{collection.pk}/", {"notes": notes}, format="json"), 400)
    assert says in err["fields"]["notes"][0], err
    collection.refresh_from_db()
    assert collection.notes == "kept"


def test_notes_at_the_limits_are_accepted(api):
    notes = _nested_list(20) + "\n\n" + "[" * 8000
    res = ok(api.post(BASE, {"title": "T", "notes": notes}, format="json"), 201)
    assert res["notes"] == notes
    assert res["notes_html"].count("<li>") == 20
    assert "[" * 8000 in res["notes_html"]  # unclosed brackets stay text


def test_notes_stored_beyond_the_limits_are_read_and_exported_as_plain_text(api, make_collection):
    # Rows written before the limits existed (or under higher ones): never a 500.
    notes = _nested_list(300) + "\n<script>alert(1)</script>"
    collection = make_collection()
    Collection.objects.filter(pk=collection.pk).update(notes=notes)
    res = ok(api.get(f"{BASE}{collection.pk}/"))
    assert res["notes"] == notes
    assert res["notes_html"].startswith('<p class="notes-plain-reason"><em>Shown as plain text. Notes are limited to 50000 characters')
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in res["notes_html"] and "<script" not in res["notes_html"]
    export = api.get(f"{BASE}{collection.pk}/export/")
    assert export.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content)))
    assert archive.testzip() is None
    assert "Shown as plain text" in archive.read("report.html").decode()


# --- retrieve -----------------------------------------------------------------------------


def test_retrieve_shows_the_collection_with_its_items(api, make_collection, make_media, user):
    collection = make_collection("Case", notes="# Notes")
    media = make_media(1, original_name="scene.jpg")
    collection_add_media(collection=collection, media=media, user=user, username="alice")
    res = ok(api.get(f"{BASE}{collection.pk}/"))
    assert (res["id"], res["title"], res["item_count"]) == (collection.pk, "Case", 1)
    assert res["notes_html"] == "<h1>Notes</h1>"
    items = res["items"]
    assert (items["count"], items["offset"], items["limit"]) == (1, 0, 30)
    (item,) = items["results"]
    assert item["media_id"] == media.pk
    assert item["sha256"] == media.sha256
    assert item["media_type"] == "image"
    assert item["original_name"] == "scene.jpg"
    assert item["thumbnail_url"] == "http://testserver/files/" + media.thumbnail.name  # absolute, like the media routes
    assert item["added_by"] == "alice"
    assert item["added_at"]


def test_retrieve_pages_the_items(api, make_collection, make_media, user):
    collection = make_collection()
    media = [make_media(seed) for seed in range(5)]
    for item in media:
        collection_add_media(collection=collection, media=item, user=user)
    res = ok(api.get(f"{BASE}{collection.pk}/", {"offset": 1, "limit": 2}))
    assert res["items"]["count"] == 5
    assert [i["media_id"] for i in res["items"]["results"]] == [m.pk for m in media[1:3]]
    res = ok(api.get(f"{BASE}{collection.pk}/", {"sort": "date", "order": "desc", "limit": 1}))
    assert [i["media_id"] for i in res["items"]["results"]] == [media[-1].pk]


@pytest.mark.parametrize("params", [{"offset": "-1"}, {"limit": "0"}, {"limit": "abc"}, {"order": "sideways"}])
def test_retrieve_with_bad_item_paging_is_400(api, make_collection, params):
    collection = make_collection()
    err = error(api.get(f"{BASE}{collection.pk}/", params), 400)
    assert set(err["fields"]) == set(params)


def test_retrieve_of_an_unknown_collection_is_404_in_the_envelope(api):
    err = error(api.get(f"{BASE}999999/"), 404)
    assert err["code"] == "not_found"


def test_retrieve_with_an_id_beyond_bigint_is_404_not_500(api):
    error(api.get(f"{BASE}{2**70}/"), 404)


def test_path_without_trailing_slash_is_not_a_route(api, make_collection):
    collection = make_collection()
    error(api.get(f"{BASE}{collection.pk}"), 404)


def test_retrieve_runs_a_fixed_number_of_queries_however_many_items(api, make_collection, make_media, user, django_assert_max_num_queries):
    collection = make_collection()
    for seed in range(8):
        collection_add_media(collection=collection, media=make_media(seed), user=user)
    # token lookup, collection with count, items page (media and parent joined)
    with django_assert_max_num_queries(3):
        res = ok(api.get(f"{BASE}{collection.pk}/"))
    assert len(res["items"]["results"]) == 8


# --- update -------------------------------------------------------------------------------


def test_put_with_some_fields_updates_only_those(api, make_collection):
    collection = make_collection("Old", notes="keep")
    res = ok(api.put(f"{BASE}{collection.pk}/", {"title": "New"}, format="json"))
    assert (res["title"], res["notes"], res["archived"]) == ("New", "keep", False)
    collection.refresh_from_db()
    assert collection.title == "New"


def test_patch_behaves_like_put(api, make_collection):
    collection = make_collection()
    res = ok(api.patch(f"{BASE}{collection.pk}/", {"archived": True, "notes": "_x_"}, format="json"))
    assert (res["archived"], res["notes_html"]) == (True, "<p><em>x</em></p>")


def test_put_with_the_full_object_from_get_is_accepted(api, make_collection):
    collection = make_collection()
    current = ok(api.get(f"{BASE}{collection.pk}/"))
    current["title"] = "Renamed"
    res = ok(api.put(f"{BASE}{collection.pk}/", current, format="json"))
    assert res["title"] == "Renamed"


def test_put_with_an_empty_body_changes_nothing(api, make_collection):
    collection = make_collection("Same")
    res = ok(api.put(f"{BASE}{collection.pk}/", {}, format="json"))
    assert res["title"] == "Same"


@pytest.mark.parametrize(
    "body, field", [({"title": ""}, "title"), ({"title": " "}, "title"), ({"archived": "no"}, "archived"), ({"title": "x" * 256}, "title")]
)
def test_put_with_invalid_fields_is_400_and_changes_nothing(api, make_collection, body, field):
    collection = make_collection("Same")
    err = error(api.put(f"{BASE}{collection.pk}/", body, format="json"), 400)
    assert field in err["fields"]
    collection.refresh_from_db()
    assert (collection.title, collection.archived) == ("Same", False)


def test_put_by_a_non_staff_user_cannot_reattribute_the_collection(api, make_collection):
    collection = make_collection()
    err = error(api.put(f"{BASE}{collection.pk}/", {"username": "alice"}, format="json"), 400)
    assert "username" in err["fields"]


def test_put_keeping_the_current_username_is_allowed_for_its_owner(api, make_collection):
    collection = make_collection(username="alice")  # the curator's, attributed to alice by staff
    res = ok(api.put(f"{BASE}{collection.pk}/", {"username": "alice", "title": "T2"}, format="json"))
    assert (res["username"], res["title"]) == ("alice", "T2")


def test_put_by_staff_can_reattribute_the_collection(staff_api, make_collection):
    collection = make_collection()
    res = ok(staff_api.put(f"{BASE}{collection.pk}/", {"username": "alice"}, format="json"))
    assert res["username"] == "alice"


def test_put_of_an_unknown_collection_is_404(api):
    error(api.put(f"{BASE}424242/", {"title": "x"}, format="json"), 404)


def test_put_with_malformed_json_is_400(api, make_collection):
    collection = make_collection()
    error(api.put(f"{BASE}{collection.pk}/", data="{nope", content_type="application/json"), 400)


def test_put_with_a_form_body_is_415(api, make_collection):
    collection = make_collection()
    error(api.put(f"{BASE}{collection.pk}/", data="title=x", content_type="application/x-www-form-urlencoded"), 415)


# --- owner only ---------------------------------------------------------------------------


@pytest.fixture
def theirs(make_collection, make_media, django_user_model):
    """Another curator's collection with one media in it."""
    other = django_user_model.objects.create_user(username="other", password="other-pass-123")
    collection = make_collection("Theirs", user=other, notes="their notes")
    collection_add_media(collection=collection, media=make_media(1), user=other)
    return collection


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("put", "", {"title": "mine now"}),
        ("patch", "", {"notes": "rewritten", "archived": True}),
        ("delete", "", None),
        ("post", "media/", {"media_id": "new"}),
        ("delete", "media/old/", None),
    ],
    ids=["put", "patch", "delete", "add-media", "remove-media"],
)
def test_a_curator_cannot_change_someone_elses_collection(api, theirs, make_media, method, path, body):
    old_media = theirs.items.get().media_id
    new_media = make_media(2).pk
    path = path.replace("old", str(old_media))
    if body and body.get("media_id") == "new":
        body = {"media_id": new_media}
    before = Collection.objects.values().get(pk=theirs.pk)
    err = error(getattr(api, method)(f"{BASE}{theirs.pk}/{path}", body, format="json"), 403)
    assert (err["code"], err["message"]) == ("permission_denied", "Only the collection's creator or staff may change it.")
    assert Collection.objects.values().get(pk=theirs.pk) == before
    assert list(CollectionMedia.objects.filter(collection=theirs).values_list("media_id", flat=True)) == [old_media]
    # Reading and exporting stay open to every curator.
    assert ok(api.get(f"{BASE}{theirs.pk}/"))["notes"] == "their notes"
    assert api.get(f"{BASE}{theirs.pk}/export/").status_code == 200


def test_staff_change_anyones_collection(staff_api, theirs, make_media):
    assert ok(staff_api.patch(f"{BASE}{theirs.pk}/", {"title": "Fixed"}, format="json"))["title"] == "Fixed"
    ok(staff_api.post(f"{BASE}{theirs.pk}/media/", {"media_id": make_media(2).pk}, format="json"), 201)


# --- delete -------------------------------------------------------------------------------


def test_delete_removes_the_collection_and_keeps_its_media(api, make_collection, make_media, user):
    collection = make_collection()
    media = make_media(1)
    collection_add_media(collection=collection, media=media, user=user)
    assert ok(api.delete(f"{BASE}{collection.pk}/")) == {"id": collection.pk, "deleted": True}
    assert not Collection.objects.exists()
    assert Media.objects.filter(pk=media.pk).exists()
    error(api.get(f"{BASE}{collection.pk}/"), 404)


def test_delete_of_an_unknown_collection_is_404(api):
    error(api.delete(f"{BASE}424242/"), 404)


# --- add media ----------------------------------------------------------------------------


def test_add_media_answers_201_with_the_membership(api, make_collection, make_media, user):
    collection, media = make_collection(), make_media(1)
    res = ok(api.post(f"{BASE}{collection.pk}/media/", {"media_id": media.pk}, format="json"), 201)
    assert res["collection_id"] == collection.pk
    assert (res["media_id"], res["sha256"], res["media_type"], res["added_by"]) == (media.pk, media.sha256, "image", "curator")
    membership = CollectionMedia.objects.get()
    assert (membership.user, membership.username) == (user, "curator")


def test_add_media_already_present_answers_200_with_the_existing_membership(api, make_collection, make_media):
    collection, media = make_collection(), make_media(1)
    first = ok(api.post(f"{BASE}{collection.pk}/media/", {"media_id": media.pk}, format="json"), 201)
    second = ok(api.post(f"{BASE}{collection.pk}/media/", {"media_id": media.pk}, format="json"), 200)
    assert second == first
    assert CollectionMedia.objects.count() == 1


def test_add_media_shows_up_in_the_collection(api, make_collection, make_media):
    collection, media = make_collection(), make_media(1)
    ok(api.post(f"{BASE}{collection.pk}/media/", {"media_id": media.pk}, format="json"), 201)
    res = ok(api.get(f"{BASE}{collection.pk}/"))
    assert res["item_count"] == 1
    assert res["items"]["results"][0]["media_id"] == media.pk


def test_add_media_with_a_numeric_string_id_is_accepted(api, make_collection, make_media):
    collection, media = make_collection(), make_media(1)
    ok(api.post(f"{BASE}{collection.pk}/media/", {"media_id": str(media.pk)}, format="json"), 201)


def test_add_media_on_behalf_of_another_user_by_non_staff_is_400(api, make_collection, make_media):
    collection, media = make_collection(), make_media(1)
    err = error(api.post(f"{BASE}{collection.pk}/media/", {"media_id": media.pk, "username": "alice"}, format="json"), 400)
    assert "username" in err["fields"]
    assert not CollectionMedia.objects.exists()


def test_add_media_on_behalf_of_another_user_by_staff_is_allowed(staff_api, make_collection, make_media):
    collection, media = make_collection(), make_media(1)
    res = ok(staff_api.post(f"{BASE}{collection.pk}/media/", {"media_id": media.pk, "username": "alice"}, format="json"), 201)
    assert res["added_by"] == "alice"


def test_add_unknown_media_is_404_naming_media_id(api, make_collection):
    collection = make_collection()
    err = error(api.post(f"{BASE}{collection.pk}/media/", {"media_id": 987654}, format="json"), 404)
    assert err["code"] == "not_found"
    assert "media_id" in err["fields"]


def test_add_media_to_an_unknown_collection_is_404(api, make_media):
    media = make_media(1)
    err = error(api.post(f"{BASE}987654/media/", {"media_id": media.pk}, format="json"), 404)
    assert err["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"media_id": None},
        {"media_id": "abc"},
        {"media_id": 0},
        {"media_id": -3},
        {"media_id": 1.5},
        {"media_id": True},
        {"media_id": 2**64},
        {"media_id": [1]},
    ],
)
def test_add_media_with_an_invalid_media_id_is_400(api, make_collection, body):
    collection = make_collection()
    err = error(api.post(f"{BASE}{collection.pk}/media/", body, format="json"), 400)
    assert "media_id" in err["fields"]


def test_add_media_with_malformed_json_is_400(api, make_collection):
    collection = make_collection()
    error(api.post(f"{BASE}{collection.pk}/media/", data='{"media_id": ', content_type="application/json"), 400)


def test_add_media_with_a_form_body_is_415(api, make_collection, make_media):
    collection, media = make_collection(), make_media(1)
    error(api.post(f"{BASE}{collection.pk}/media/", data=f"media_id={media.pk}", content_type="application/x-www-form-urlencoded"), 415)


def test_get_on_the_media_route_is_405(api, make_collection):
    collection = make_collection()
    error(api.get(f"{BASE}{collection.pk}/media/"), 405)


# --- remove media -------------------------------------------------------------------------


def test_remove_media_answers_200_deleted_and_keeps_the_media(api, make_collection, make_media, user):
    collection, media = make_collection(), make_media(1)
    collection_add_media(collection=collection, media=media, user=user)
    assert ok(api.delete(f"{BASE}{collection.pk}/media/{media.pk}/")) == {"deleted": True}
    assert not CollectionMedia.objects.exists()
    assert Media.objects.filter(pk=media.pk).exists()


def test_remove_media_twice_is_404_the_second_time(api, make_collection, make_media, user):
    collection, media = make_collection(), make_media(1)
    collection_add_media(collection=collection, media=media, user=user)
    ok(api.delete(f"{BASE}{collection.pk}/media/{media.pk}/"))
    err = error(api.delete(f"{BASE}{collection.pk}/media/{media.pk}/"), 404)
    assert err["code"] == "not_found"


def test_remove_media_of_another_collection_is_404_and_leaves_it(api, make_collection, make_media, user):
    mine, other = make_collection("Mine"), make_collection("Other")
    media = make_media(1)
    collection_add_media(collection=other, media=media, user=user)
    error(api.delete(f"{BASE}{mine.pk}/media/{media.pk}/"), 404)
    assert CollectionMedia.objects.filter(collection=other).exists()


def test_remove_media_from_an_unknown_collection_is_404(api, make_media):
    media = make_media(1)
    error(api.delete(f"{BASE}987654/media/{media.pk}/"), 404)


def test_remove_unknown_media_is_404(api, make_collection):
    collection = make_collection()
    error(api.delete(f"{BASE}{collection.pk}/media/{2**70}/"), 404)


def test_a_bad_query_string_on_a_write_does_not_fail_the_committed_write(api, make_collection):
    res = ok(api.post(BASE + "?limit=0", {"title": "T"}, format="json"), 201)
    assert res["items"]["limit"] == 30
    res = ok(api.put(f"{BASE}{res['id']}/?offset=-1", {"title": "T2"}, format="json"))
    assert res["title"] == "T2"


# --- archived collections are read-only ------------------------------------------------


def test_an_archived_collection_takes_no_change_until_it_is_unarchived(api, make_collection, make_media):
    media = make_media(1)
    collection = make_collection("Closed case", notes="final", archived=True)
    detail = f"{BASE}{collection.pk}/"

    for res in (
        api.patch(detail, {"notes": "rewritten"}, format="json"),
        api.put(detail, {"title": "Other"}, format="json"),
        api.post(f"{detail}media/", {"media_id": media.pk}, format="json"),
        api.delete(detail),
    ):
        assert error(res, 409)["code"] == "archived"
    collection.refresh_from_db()
    assert (collection.title, collection.notes, collection.archived) == ("Closed case", "final", True)
    assert not CollectionMedia.objects.filter(collection=collection).exists()

    # What it holds already is no change; unarchiving (with a change in the same request) is.
    ok(api.patch(detail, {"title": "Closed case", "archived": True}, format="json"))
    res = ok(api.patch(detail, {"archived": False, "notes": "reopened"}, format="json"))
    assert (res["archived"], res["notes"]) == (False, "reopened")


def test_items_of_an_archived_collection_cannot_be_removed(api, make_collection, make_media):
    media = make_media(1)
    collection = make_collection("Closed case")
    collection_add_media(collection=collection, media=media, user=collection.user)
    ok(api.patch(f"{BASE}{collection.pk}/", {"archived": True}, format="json"))

    assert error(api.delete(f"{BASE}{collection.pk}/media/{media.pk}/"), 409)["code"] == "archived"
    assert CollectionMedia.objects.filter(collection=collection, media=media).exists()


# --- items: how each was found, and a filter by type --------------------------------------


def test_items_say_how_they_were_found_and_hand_added_ones_say_null(api, user, make_collection, make_media):
    from search_app.models import SearchRecord

    found, by_hand = make_media(1), make_media(2)
    record = SearchRecord.objects.create(
        user=user,
        username=user.username,
        route="media",
        query_type="media",
        query_media_id=found.pk + 1000,
        query_sha256="ab" * 32,
        box=[0.1, 0.2, 0.5, 0.6],
        feature_id=7,
        modelzoo_name="efficientnet_lite0",
        weights_checksum="sha256:x",
        index_version=3,
        results=[{"rank": 2, "media_id": found.pk, "sha256": found.sha256, "score": 0.987654, "match": "copy"}],
    )
    collection = make_collection("Leads")
    collection_add_media(collection=collection, media=found, user=user, search_record_id=record.pk)
    collection_add_media(collection=collection, media=by_hand, user=user)

    items = {i["media_id"]: i for i in ok(api.get(f"{BASE}{collection.pk}/"))["items"]["results"]}

    how = items[found.pk]["found_by"]
    assert (how["search_record"], how["rank"], how["score"], how["match"]) == (record.pk, 2, 0.987654, "copy")
    assert (how["query_type"], how["query_media_id"], how["box"], how["feature_id"]) == ("media", found.pk + 1000, [0.1, 0.2, 0.5, 0.6], 7)
    assert how["query"] == f"media {found.pk + 1000} (sha256 {'ab' * 32}) region 0.1,0.2,0.5,0.6"
    assert items[by_hand.pk]["found_by"] is None


def test_items_filter_by_media_type_and_count_what_they_keep(api, make_collection, make_media, user):
    collection = make_collection("Mixed")
    for seed in (1, 2):
        collection_add_media(collection=collection, media=make_media(seed), user=user)

    assert ok(api.get(f"{BASE}{collection.pk}/", {"media_type": "image"}))["items"]["count"] == 2
    empty = ok(api.get(f"{BASE}{collection.pk}/", {"media_type": "video"}))["items"]
    assert (empty["count"], empty["results"]) == (0, [])
    assert "media_type" in error(api.get(f"{BASE}{collection.pk}/", {"media_type": "poster"}), 400)["fields"]

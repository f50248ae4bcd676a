"""Services of collections: create, update, delete, add and remove media."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.models.query import QuerySet
from django.utils import timezone

from collections_app.models import Collection, CollectionMedia
from collections_app.services import (
    collection_add_media,
    collection_create,
    collection_delete,
    collection_remove_media,
    collection_update,
)
from core.errors import InvalidInput, NotFound
from media_app.models import Media

pytestmark = pytest.mark.django_db


# --- create -------------------------------------------------------------------------------


def test_create_attributes_the_collection_to_the_user_by_default(user):
    collection = collection_create(title="  Convoy  ", notes="*seen* at dawn", archived=True, user=user)
    collection.refresh_from_db()
    assert collection.title == "Convoy"
    assert collection.notes == "*seen* at dawn"
    assert collection.archived is True
    assert collection.user == user
    assert collection.username == "curator"


def test_create_keeps_an_explicit_username(user):
    collection = collection_create(title="Case", user=user, username="alice")
    assert (collection.user, collection.username) == (user, "alice")


def test_create_without_a_user_leaves_user_empty():
    collection = collection_create(title="Case", user=None)
    assert collection.user is None
    assert collection.username == ""


def test_create_defaults_to_empty_notes_and_not_archived(user):
    collection = collection_create(title="Case", user=user)
    assert (collection.notes, collection.archived) == ("", False)


@pytest.mark.parametrize("title", ["", "   ", None, 42])
def test_create_with_a_blank_or_non_text_title_is_rejected_and_nothing_is_stored(user, title):
    with pytest.raises(InvalidInput) as info:
        collection_create(title=title, user=user)
    assert "title" in info.value.fields
    assert not Collection.objects.exists()


def test_create_with_a_title_over_255_characters_is_rejected(user):
    with pytest.raises(InvalidInput) as info:
        collection_create(title="x" * 256, user=user)
    assert "title" in info.value.fields


def test_create_with_a_username_over_150_characters_is_rejected(user):
    with pytest.raises(InvalidInput) as info:
        collection_create(title="Case", user=user, username="u" * 151)
    assert "username" in info.value.fields


# --- update -------------------------------------------------------------------------------


def test_update_changes_only_the_given_fields(make_collection):
    collection = make_collection("Before", notes="keep me")
    collection_update(collection=collection, title=" After ")
    collection.refresh_from_db()
    assert (collection.title, collection.notes, collection.archived) == ("After", "keep me", False)


def test_update_does_not_overwrite_fields_changed_meanwhile_by_someone_else(make_collection):
    collection = make_collection("Case")
    stale = Collection.objects.get(pk=collection.pk)
    collection_update(collection=collection, notes="new notes")
    collection_update(collection=stale, archived=True)
    collection.refresh_from_db()
    assert (collection.notes, collection.archived) == ("new notes", True)


def test_update_moves_updated_at_forward(make_collection):
    collection = make_collection()
    Collection.objects.filter(pk=collection.pk).update(updated_at=timezone.now() - timedelta(days=1))
    collection.refresh_from_db()
    before = collection.updated_at
    collection_update(collection=collection, archived=True)
    collection.refresh_from_db()
    assert collection.updated_at > before


def test_update_sets_notes_archived_and_username(make_collection):
    collection = make_collection()
    collection_update(collection=collection, notes="# Heading", archived=True, username="bob")
    collection.refresh_from_db()
    assert (collection.notes, collection.archived, collection.username) == ("# Heading", True, "bob")


def test_update_with_a_blank_title_is_rejected_and_the_title_kept(make_collection):
    collection = make_collection("Keep")
    with pytest.raises(InvalidInput):
        collection_update(collection=collection, title=" ")
    collection.refresh_from_db()
    assert collection.title == "Keep"


def test_notes_beyond_the_limits_are_refused_before_anything_is_stored(make_collection, user, settings):
    settings.NOTES_MAX_CHARS = 1000
    with pytest.raises(InvalidInput) as raised:
        collection_create(title="T", notes="x" * 1001, user=user)
    assert raised.value.fields == {"notes": ["Notes are limited to 1000 characters; these have 1001."]}
    assert not Collection.objects.exists()
    collection = make_collection("Before", notes="kept")
    with pytest.raises(InvalidInput) as raised:
        collection_update(collection=collection, title="After", notes="> " * 25 + "deep")
    assert raised.value.fields == {"notes": ["Lists and quotes may nest at most 20 levels deep; these nest 25."]}
    collection.refresh_from_db()
    assert (collection.title, collection.notes) == ("Before", "kept")


def test_update_with_an_unknown_field_is_a_programming_error(make_collection):
    with pytest.raises(TypeError, match="created_at"):
        collection_update(collection=make_collection(), created_at=timezone.now())


# --- delete -------------------------------------------------------------------------------


def test_delete_removes_the_collection_and_memberships_but_keeps_the_media(make_collection, make_media, user):
    collection = make_collection()
    media = make_media(1)
    collection_add_media(collection=collection, media=media, user=user)
    collection_delete(collection=collection)
    assert not Collection.objects.exists()
    assert not CollectionMedia.objects.exists()
    assert Media.objects.filter(pk=media.pk).exists()


# --- add media ----------------------------------------------------------------------------


def test_add_media_creates_a_membership_attributed_to_the_user(make_collection, make_media, user):
    collection, media = make_collection(), make_media(1)
    membership, created = collection_add_media(collection=collection, media=media, user=user)
    assert created is True
    assert (membership.collection, membership.media, membership.user, membership.username) == (collection, media, user, "curator")
    assert membership.added_at is not None


def test_add_media_keeps_an_explicit_username(make_collection, make_media, user):
    membership, _ = collection_add_media(collection=make_collection(), media=make_media(1), user=user, username="alice")
    assert membership.username == "alice"


def test_add_media_already_in_the_collection_returns_the_existing_membership(make_collection, make_media, user, staff):
    collection, media = make_collection(), make_media(1)
    first, created_first = collection_add_media(collection=collection, media=media, user=user)
    second, created_second = collection_add_media(collection=collection, media=media, user=staff, username="someone-else")
    assert (created_first, created_second) == (True, False)
    assert second.pk == first.pk
    assert second.username == "curator"  # the original attribution is kept
    assert CollectionMedia.objects.count() == 1


def test_add_media_inside_an_outer_transaction_that_loses_the_race_leaves_it_usable(make_collection, make_media, user, monkeypatch):
    """Both existence checks miss a row a concurrent request inserted a moment later
    (as on SQLite, which has no row locks): the unique constraint fires, and the
    existing membership comes back in a transaction that can still be used."""
    collection, media = make_collection(), make_media(1)
    winner = CollectionMedia.objects.create(collection=collection, media=media, username="winner")
    original_first = QuerySet.first
    calls = {"n": 0}

    def first_misses_twice(self):
        calls["n"] += 1
        return None if calls["n"] <= 2 else original_first(self)

    monkeypatch.setattr(QuerySet, "first", first_misses_twice)
    with transaction.atomic():
        membership, created = collection_add_media(collection=collection, media=media, user=user)
        assert Collection.objects.filter(pk=collection.pk).exists()  # the transaction still works
    assert (membership.pk, created) == (winner.pk, False)
    assert CollectionMedia.objects.count() == 1


def test_add_media_to_two_collections_makes_two_memberships(make_collection, make_media, user):
    media = make_media(1)
    a, b = make_collection("A"), make_collection("B")
    collection_add_media(collection=a, media=media, user=user)
    collection_add_media(collection=b, media=media, user=user)
    assert set(media.collections.values_list("title", flat=True)) == {"A", "B"}


def test_add_media_moves_the_collection_updated_at_forward(make_collection, make_media, user):
    collection = make_collection()
    Collection.objects.filter(pk=collection.pk).update(updated_at=timezone.now() - timedelta(days=1))
    collection.refresh_from_db()
    before = collection.updated_at
    collection_add_media(collection=collection, media=make_media(1), user=user)
    collection.refresh_from_db()
    assert collection.updated_at > before


def test_add_media_to_a_collection_deleted_meanwhile_is_not_found(make_collection, make_media, user):
    collection, media = make_collection(), make_media(1)
    Collection.objects.filter(pk=collection.pk).delete()
    with pytest.raises(NotFound):
        collection_add_media(collection=collection, media=media, user=user)
    assert not CollectionMedia.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_add_media_deleted_meanwhile_is_not_found_and_nothing_is_stored(user, make_media):
    # transaction=True: the foreign key is checked at commit, which must happen here.
    collection = collection_create(title="Case", user=user)
    media = make_media(1)
    Media.objects.filter(pk=media.pk).delete()
    with pytest.raises(NotFound) as info:
        collection_add_media(collection=collection, media=media, user=user)
    assert "media_id" in info.value.fields
    assert not CollectionMedia.objects.exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent connections (PostgreSQL): the test SQLite database is a shared in-memory one, whose table locks fail at once "
    "instead of waiting (the deployed SQLite uses IMMEDIATE transactions with a timeout); the lost race is covered above",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_of_the_same_media_make_one_membership_and_never_fail(user, make_media):
    collection = collection_create(title="Race", user=user)
    media = make_media(1)
    barrier = threading.Barrier(2)
    results: list = []
    errors: list = []

    def add(username: str) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(collection_add_media(collection=collection, media=media, user=None, username=username))
        except Exception as exc:  # collected, so the test reports it instead of a thread dying
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert len({membership.pk for membership, _ in results}) == 1
    assert CollectionMedia.objects.filter(collection=collection, media=media).count() == 1


# --- remove media -------------------------------------------------------------------------


def test_remove_media_deletes_the_membership_only(make_collection, make_media, user):
    collection, media = make_collection(), make_media(1)
    collection_add_media(collection=collection, media=media, user=user)
    collection_remove_media(collection=collection, media=media)
    assert not CollectionMedia.objects.exists()
    assert Media.objects.filter(pk=media.pk).exists()


def test_remove_media_accepts_a_media_id(make_collection, make_media, user):
    collection, media = make_collection(), make_media(1)
    collection_add_media(collection=collection, media=media, user=user)
    collection_remove_media(collection=collection, media=media.pk)
    assert not CollectionMedia.objects.exists()


def test_remove_media_that_is_not_a_member_is_not_found(make_collection, make_media, user):
    collection, other = make_collection("A"), make_collection("B")
    media = make_media(1)
    collection_add_media(collection=other, media=media, user=user)
    with pytest.raises(NotFound):
        collection_remove_media(collection=collection, media=media)
    assert CollectionMedia.objects.filter(collection=other).count() == 1

"""Every write to Collections and their memberships. The API, the admin (also other
apps' admin actions), tasks and commands all call these, so they behave alike."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.api.ids import id_in_range
from core.errors import Conflict, InvalidInput, NotFound
from media_app.models import Media

from .models import Collection, CollectionMedia
from .rendering import notes_problem

# Fields a caller may change through collection_update(); everything else (ids,
# timestamps, the creating user) is owned by the services.
UPDATABLE_FIELDS = frozenset({"title", "notes", "archived", "username"})
TITLE_MAX_LENGTH = Collection._meta.get_field("title").max_length
USERNAME_MAX_LENGTH = Collection._meta.get_field("username").max_length


def _clean_title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("A collection needs a title.", fields={"title": ["This field may not be blank."]})
    title = title.strip()
    if len(title) > TITLE_MAX_LENGTH:
        raise InvalidInput("Title is too long.", fields={"title": [f"Ensure this field has no more than {TITLE_MAX_LENGTH} characters."]})
    return title


def _clean_username(username: Any) -> str:
    username = (username or "").strip()
    if len(username) > USERNAME_MAX_LENGTH:
        raise InvalidInput("Username is too long.", fields={"username": [f"Ensure this field has no more than {USERNAME_MAX_LENGTH} characters."]})
    return username


def _clean_notes(notes: Any) -> str:
    notes = notes or ""
    if not isinstance(notes, str):
        raise InvalidInput("Notes must be text.", fields={"notes": ["Not a valid string."]})
    # Refused here rather than shown as plain text later: every read renders them.
    problem = notes_problem(notes)
    if problem is not None:
        raise InvalidInput(f"Notes not accepted: {problem}", fields={"notes": [problem]})
    return notes


def _check_not_archived(collection: Collection, action: str) -> None:
    """An archived collection is a closed record: 409 until it is unarchived."""
    if collection.archived:
        raise Conflict(f"Collection {collection.pk} is archived: unarchive it to {action}.", code="archived")


def _authenticated(user) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


@transaction.atomic
def collection_create(*, title: str, notes: str = "", archived: bool = False, user=None, username: str = "") -> Collection:
    """Create a collection. ``user`` is who created it; ``username`` is the name it is
    attributed to and defaults to that user's username."""
    user = _authenticated(user)
    return Collection.objects.create(
        title=_clean_title(title),
        notes=_clean_notes(notes),
        archived=bool(archived),
        user=user,
        username=_clean_username(username) or getattr(user, "username", "") or "",
    )


@transaction.atomic
def collection_update(*, collection: Collection, **fields: Any) -> Collection:
    """Change any of title, notes, archived, username; other keys are a programming
    error. Only the given fields (and updated_at) are written, so two curators editing
    different fields at once do not overwrite each other. An archived collection that
    stays archived takes no change (409); re-sending the values it holds is no change."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"collection_update() got unexpected fields: {', '.join(sorted(unknown))}")
    if collection.archived and fields.get("archived", True):
        if any(getattr(collection, name) != value for name, value in fields.items() if name != "archived"):
            _check_not_archived(collection, "change it")
    if "title" in fields:
        fields["title"] = _clean_title(fields["title"])
    if "notes" in fields:
        fields["notes"] = _clean_notes(fields["notes"])
    if "archived" in fields:
        fields["archived"] = bool(fields["archived"])
    if "username" in fields:
        fields["username"] = _clean_username(fields["username"])
    for name, value in fields.items():
        setattr(collection, name, value)
    collection.save(update_fields=[*fields, "updated_at"])
    return collection


def collection_touch(*, collection_id: int) -> None:
    """Mark a collection changed now: for writes that bypass these services (the
    admin's membership pages), so "recently updated" lists still show it."""
    Collection.objects.filter(pk=collection_id).update(updated_at=timezone.now())


@transaction.atomic
def collection_delete(*, collection: Collection) -> None:
    """Delete a collection and its memberships; the media themselves stay. 409 for an
    archived one: it is unarchived first, on purpose."""
    _check_not_archived(collection, "delete it")
    collection.delete()


def collection_add_media(
    *, collection: Collection, media: Media, user, username: str = "", search_record_id: int | None = None
) -> tuple[CollectionMedia, bool]:
    """Add ``media`` to ``collection``; returns ``(membership, created)``.

    Idempotent and safe under concurrency: media already in the collection (also when a
    concurrent request added it a moment ago) returns the existing membership with
    ``created=False``, never an IntegrityError. ``user`` is who added it; ``username``
    is the name it is attributed to and defaults to that user's username.
    ``search_record_id`` is the search that showed the media (kept on a new membership,
    so the export can say how the item was found; 400 naming ``search_record`` when no
    such record exists). NotFound when the collection or the media was deleted meanwhile.
    """
    if search_record_id is not None:
        from search_app.models import SearchRecord

        record = SearchRecord.objects.filter(pk=search_record_id).only("user_id", "results").first()
        # Only one's own searches can be cited (staff browse everyone's anyway), and only
        # one that showed this media: the export presents it as how the item was found.
        if record is None or not (getattr(user, "is_staff", False) or record.user_id == getattr(user, "pk", None)):
            raise InvalidInput(f"No search record with id {search_record_id}.", fields={"search_record": ["No search record of yours with this id."]})
        if not any(hit.get("media_id") == media.pk for hit in record.results or []):
            raise InvalidInput(
                f"Search record {search_record_id} did not show media {media.pk}.", fields={"search_record": ["That search did not show this media."]}
            )
    existing = _membership(collection, media)
    if existing is not None:
        return existing, False
    _check_not_archived(collection, "add media")
    user = _authenticated(user)
    try:
        # The atomic block is the whole transaction when called from a view, so the
        # foreign keys (deferred to commit by Django) are checked inside this try.
        with transaction.atomic():
            # Lock the collection row: concurrent adds to one collection queue here
            # (PostgreSQL), and a concurrent delete of the collection cannot slip in.
            if not Collection.objects.select_for_update().filter(pk=collection.pk).values_list("pk", flat=True):
                raise NotFound(f"Collection {collection.pk} does not exist.")
            existing = _membership(collection, media)
            if existing is not None:
                return existing, False
            membership = CollectionMedia.objects.create(
                collection=collection,
                media=media,
                user=user,
                username=_clean_username(username) or getattr(user, "username", "") or "",
                search_record_id=search_record_id,
            )
            # Adding media edits the collection: "recently updated" lists should show it.
            Collection.objects.filter(pk=collection.pk).update(updated_at=membership.added_at)
    except IntegrityError:
        # Where no row lock exists (SQLite) the unique constraint decides the race.
        existing = _membership(collection, media)
        if existing is not None:
            return existing, False
        if not Media.objects.filter(pk=media.pk).exists():
            raise NotFound(f"Media {media.pk} does not exist.", fields={"media_id": ["No media with this id."]})
        if not Collection.objects.filter(pk=collection.pk).exists():
            raise NotFound(f"Collection {collection.pk} does not exist.")
        raise
    collection.updated_at = membership.added_at
    return membership, True


def _membership(collection: Collection, media: Media) -> CollectionMedia | None:
    membership = CollectionMedia.objects.filter(collection=collection, media=media).first()
    if membership is not None:
        membership.collection, membership.media = collection, media  # callers serialize these
    return membership


@transaction.atomic
def collection_remove_media(*, collection: Collection, media: Media | int) -> None:
    """Remove one media from a collection; NotFound when it is not a member."""
    media_id = media.pk if isinstance(media, Media) else media
    _check_not_archived(collection, "remove media")
    # An id no row can have is simply not a member (and must not reach the database).
    deleted = CollectionMedia.objects.filter(collection=collection, media_id=media_id).delete()[0] if id_in_range(media_id) else 0
    if not deleted:
        raise NotFound(f"Media {media_id} is not in collection {collection.pk}.", fields={"media_id": ["Not a member of this collection."]})
    Collection.objects.filter(pk=collection.pk).update(updated_at=timezone.now())

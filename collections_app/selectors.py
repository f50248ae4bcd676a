"""Reads of collections: annotated so lists never run one query per row."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from core.errors import NotFound
from media_app.models import Media

from .models import Collection, CollectionMedia


def collection_list(*, archived: bool | None = None) -> QuerySet[Collection]:
    """All collections with ``item_count``; ``archived`` filters when not None."""
    queryset = Collection.objects.annotate(item_count=Count("items"))
    if archived is not None:
        queryset = queryset.filter(archived=archived)
    return queryset


def collection_get(*, collection_id: int) -> Collection:
    """One collection with ``item_count``; NotFound (404) when it does not exist."""
    collection = collection_list().filter(pk=collection_id).first()
    if collection is None:
        raise NotFound(f"Collection {collection_id} does not exist.")
    return collection


# The list routes' sort names, mapped onto memberships: "date" is when it was added.
_ITEM_SORT = {"id": "id", "date": "added_at"}


def collection_items(*, collection: Collection, sort: str = "id", order: str = "asc") -> QuerySet[CollectionMedia]:
    """Memberships of a collection with their media (and a frame's parent video) joined
    in; by default in the order they were added."""
    field = _ITEM_SORT[sort]
    prefix = "-" if order == "desc" else ""
    ordering = [prefix + field] if field == "id" else [prefix + field, prefix + "id"]
    return CollectionMedia.objects.filter(collection=collection).select_related("media", "media__parent", "search_record").order_by(*ordering)


def media_get(*, media_id: int) -> Media:
    """The media to add to a collection; NotFound (404, on ``media_id``) when unknown."""
    media = Media.objects.filter(pk=media_id).first()
    if media is None:
        raise NotFound(f"Media {media_id} does not exist.", fields={"media_id": ["No media with this id."]})
    return media

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


def collection_items(*, collection: Collection, sort: str = "id", order: str = "asc", media_type: str | None = None) -> QuerySet[CollectionMedia]:
    """Memberships of a collection with their media (and a frame's parent video) joined
    in; by default in the order they were added; ``media_type`` keeps one type."""
    field = _ITEM_SORT[sort]
    prefix = "-" if order == "desc" else ""
    ordering = [prefix + field] if field == "id" else [prefix + field, prefix + "id"]
    items = CollectionMedia.objects.filter(collection=collection)
    if media_type:
        items = items.filter(media__media_type=media_type)
    return items.select_related("media", "media__parent", "search_record").order_by(*ordering)


def media_get(*, media_id: int) -> Media:
    """The media to add to a collection; NotFound (404, on ``media_id``) when unknown."""
    media = Media.objects.filter(pk=media_id).first()
    if media is None:
        raise NotFound(f"Media {media_id} does not exist.", fields={"media_id": ["No media with this id."]})
    return media


def search_query_text(record) -> str:
    """The query of a search record in one line: what was searched, and the region if any."""
    if record.query_type == "media":
        text = f"media {record.query_media_id} (sha256 {record.query_sha256})"
    else:
        text = f"upload {record.query_upload_id} (sha256 {record.query_sha256})"
    if record.seed:
        text = f"random seed {record.seed!r}: {text}"
    if record.box:
        text += " region " + ",".join(f"{v:g}" for v in record.box)
    return text


def membership_found_by(membership: CollectionMedia) -> dict | None:
    """How a member was found: the search that showed it when it was added (its record,
    query, and the member's rank, score and match label in that answer), or None when it
    was added otherwise. The record is loaded with the membership (collection_items)."""
    record = membership.search_record if membership.search_record_id else None
    if record is None:
        return None
    hit = next((r for r in record.results or [] if r.get("media_id") == membership.media_id), None) or {}
    return {
        "search_record": record.pk,
        "searched_at": record.created_at,
        "searched_by": record.username,
        "query": search_query_text(record),
        "query_type": record.query_type,
        "query_media_id": record.query_media_id,
        "query_upload_id": record.query_upload_id,
        "query_sha256": record.query_sha256,
        "box": record.box,
        "feature_id": record.feature_id,
        "modelzoo_name": record.modelzoo_name,
        "rank": hit.get("rank"),
        "score": hit.get("score"),
        "match": hit.get("match"),
    }

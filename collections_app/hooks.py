"""The collections app's side of the hooks of the apps below it: an ingest adds what it
stores to a collection, ``media/info/`` counts collections, and a search can be limited
to one collection. Registered by ``CollectionsAppConfig.ready()``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.errors import DomainError
from media_app import hooks as media_hooks
from search_app import hooks as search_hooks

from .models import Collection, CollectionMedia
from .services import collection_add_media


def on_ingest_media_stored(*, media: Any, options: Any, **_: Any) -> str | None:
    """Add an ingested media to ``options.collection`` (``manage.py ingest --collection``)."""
    collection = getattr(options, "collection", None)
    if collection is None:
        return None
    try:
        collection_add_media(collection=collection, media=media, user=None, username=getattr(options, "username", ""))
    except DomainError as exc:
        return f"not added to collection {collection.pk}: {exc.message}"
    return None


def info_counts() -> dict[str, int]:
    return {"collections": Collection.objects.count()}


def collection_media_ids(*, collection_id: int) -> QuerySet | None:
    if not Collection.objects.filter(pk=collection_id).exists():
        return None
    return CollectionMedia.objects.filter(collection_id=collection_id).values_list("media_id", flat=True)


def register() -> None:
    media_hooks.ingest_media_stored.register(on_ingest_media_stored)
    media_hooks.info_counts.register(info_counts)
    search_hooks.collection_media_ids.register(collection_media_ids)

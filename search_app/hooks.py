"""What the search app lets the apps above it provide, without importing them.

The collections app registers :data:`collection_media_ids` from its
``AppConfig.ready()``, so a search can be limited to one collection.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.hooks import Hook

collection_media_ids = Hook(
    "collection_media_ids",
    "Called with ``collection_id=``; returns an iterable of the media ids in that collection, or None when this provider has no such collection.",
)


def collection_members(collection_id: int) -> Iterable[int] | None:
    """The media ids of collection ``collection_id`` (lazy where the provider is), or
    None when no provider knows the collection."""
    for members in collection_media_ids(collection_id=collection_id):
        if members is not None:
            return members
    return None

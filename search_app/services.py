"""Every write to Features and their indexes."""

from __future__ import annotations

from collections.abc import Iterable


def feature_forget_media(*, media_ids: Iterable[int]) -> None:
    """Remove deleted media from every feature's vectors and indexes.

    Filled in by the ingestion/index issue; until features hold vectors there is
    nothing to forget.
    """
    return None

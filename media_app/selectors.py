"""Every non-trivial read of Media and Upload: the API, the admin and the search app use
these so that a page of media always costs the same few queries."""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Sequence

from django.conf import settings
from django.db.models import Count, IntegerField, Max, Min, OuterRef, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import Abs, Coalesce

from core.errors import InvalidInput, NotFound

from . import hooks
from .models import Media, MediaType, Upload

_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")


def _frame_count_subquery() -> Coalesce:
    # A correlated count per row, not a GROUP BY over a join: the page is sliced first,
    # so a list costs one index probe per returned row however large the table is.
    counts = Media.objects.filter(parent=OuterRef("pk")).order_by().values("parent").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def media_queryset() -> QuerySet[Media]:
    """Media with what the API shows beside each row (parent sha256, frame count)
    annotated, so serializing a page never queries per row."""
    # Subqueries rather than a join on parent: the pager's COUNT(*) then drops them and
    # stays a plain count of the table.
    parent_sha256 = Subquery(Media.objects.filter(pk=OuterRef("parent_id")).values("sha256")[:1])
    return Media.objects.annotate(parent_sha256=parent_sha256, frame_count=_frame_count_subquery())


def media_by_ids(ids: Sequence[int]) -> list[Media]:
    """The media with these ids, with what the API shows beside each row (like
    :func:`media_queryset`'s rows), in one plain query when none is a frame or a video:
    building media_queryset's subqueries costs more than reading a page of rows. The
    parent sha256 of frames and the frame count of videos take one query each, only
    when the page has any."""
    rows = list(Media.objects.filter(pk__in=list(ids)))
    parents = {m.parent_id for m in rows if m.parent_id}
    sha256_of = dict(Media.objects.filter(pk__in=parents).values_list("pk", "sha256")) if parents else {}
    videos = [m.pk for m in rows if m.media_type == MediaType.VIDEO]
    counts = {}
    if videos:
        counts = dict(Media.objects.filter(parent_id__in=videos).order_by().values("parent_id").annotate(n=Count("pk")).values_list("parent_id", "n"))
    for media in rows:
        media.parent_sha256 = sha256_of.get(media.parent_id) if media.parent_id else None
        media.frame_count = counts.get(media.pk, 0)
    return rows


def media_type_validate(value: str | None) -> str | None:
    """``None``/empty means no filter; anything but a known media type is a 400."""
    if value in (None, ""):
        return None
    if value not in MediaType.values:
        raise InvalidInput(
            f"Unknown media_type {value!r}.",
            fields={"media_type": [f"Expected one of: {', '.join(MediaType.values)}."]},
        )
    return value


def media_list(*, media_type: str | None = None) -> QuerySet[Media]:
    """All media, optionally of one type; ordering and slicing are the pager's job."""
    qs = media_queryset()
    media_type = media_type_validate(media_type)
    if media_type:
        qs = qs.filter(media_type=media_type)
    return qs


def media_get(*, media_id: int) -> Media:
    """One media by id, annotated like a list row; NotFound if there is none."""
    media = media_queryset().filter(pk=media_id).first()
    if media is None:
        raise NotFound(f"No media with id {media_id}.")
    return media


def sha256_validate(value: str) -> str:
    """A sha256 hex digest, lower-cased; anything else is a 400 (not a 404)."""
    if not _SHA256_RE.match(value or ""):
        raise InvalidInput("A sha256 is 64 hexadecimal characters.", code="invalid_sha256", fields={"sha256": ["Expected 64 hexadecimal characters."]})
    return value.lower()


def media_get_by_sha256(*, sha256: str) -> Media:
    """One media by the sha256 of its bytes; InvalidInput if malformed, NotFound if absent."""
    sha256 = sha256_validate(sha256)
    media = media_queryset().filter(sha256=sha256).first()
    if media is None:
        raise NotFound(f"No media with sha256 {sha256}.")
    return media


_SIBLING_FIELDS = ("id", "sha256", "media_type", "thumbnail", "frame_number", "timestamp", "parent_id")


def _siblings_queryset(media: Media) -> QuerySet[Media] | None:
    if media.media_type == MediaType.VIDEO_FRAME and media.parent_id:
        return Media.objects.filter(parent_id=media.parent_id).exclude(pk=media.pk)
    if media.media_type == MediaType.VIDEO:
        return Media.objects.filter(parent_id=media.pk)
    return None


def media_siblings(*, media: Media) -> Sequence[Media]:
    """The other frames of the same video, in frame order.

    For a frame: its parent's frames except itself; for a video: all its frames; for
    an image: none.
    """
    qs = _siblings_queryset(media)
    if qs is None:
        return []
    return list(qs.order_by("frame_number", "id").only(*_SIBLING_FIELDS))


def media_siblings_window(*, media: Media, limit: int) -> tuple[list[Media], int]:
    """At most ``limit`` of :func:`media_siblings`, the nearest in frame number to this
    frame (a video's first ones), in frame order, and how many there are in all, in one
    query: a video of ten thousand keyframes does not list them all in every answer."""
    qs = _siblings_queryset(media)
    if qs is None:
        return [], 0
    here = (media.frame_number or 0) if media.media_type == MediaType.VIDEO_FRAME else 0
    near = (
        qs.only(*_SIBLING_FIELDS)
        .annotate(total=Window(Count("id")), distance=Abs(Coalesce("frame_number", Value(0)) - Value(here)))
        .order_by("distance", "frame_number", "id")[:limit]
    )
    rows = list(near)
    rows.sort(key=lambda m: (m.frame_number if m.frame_number is not None else -1, m.pk))
    return rows, (rows[0].total if rows else 0)


def media_random(*, media_type: str | None = None) -> Media:
    """One media picked at random without ``ORDER BY RANDOM()``.

    Picks a random id between the smallest and largest and takes the first row at or
    above it: two indexed lookups on any table size. Ids after a gap are a little more
    likely, which is fine for "show me something".
    """
    media_type = media_type_validate(media_type)
    base = Media.objects.all()
    if media_type:
        base = base.filter(media_type=media_type)
    bounds = base.aggregate(lo=Min("id"), hi=Max("id"))
    if bounds["lo"] is None:
        raise NotFound("There is no media yet.")
    pick = random.randint(bounds["lo"], bounds["hi"])
    qs = media_queryset()
    if media_type:
        qs = qs.filter(media_type=media_type)
    media = qs.filter(id__gte=pick).order_by("id").first()
    if media is None:
        # The rows above the pick were deleted since we read the bounds.
        media = qs.order_by("id").first()
    if media is None:
        raise NotFound("There is no media yet.")
    return media


def media_info() -> dict:
    """Counts of what is stored and how much room is left on the data volume."""
    by_type = {t: 0 for t in MediaType.values}
    for row in Media.objects.order_by().values("media_type").annotate(n=Count("pk")):
        by_type[row["media_type"]] = row["n"]
    media_bytes = Media.objects.aggregate(total=Coalesce(Sum("byte_size"), 0))["total"]
    uploads = Upload.objects.aggregate(n=Count("pk"), total=Coalesce(Sum("byte_size"), 0))
    try:
        disk = shutil.disk_usage(settings.DATA_DIR)
        disk_free, disk_total = disk.free, disk.total
    except OSError:
        disk_free = disk_total = None
    return {
        "media": {"total": sum(by_type.values()), **by_type},
        "uploads": uploads["n"],
        **{name: count for counts in hooks.info_counts() for name, count in counts.items()},
        "bytes_stored": media_bytes + uploads["total"],
        "disk_free": disk_free,
        "disk_total": disk_total,
    }


def upload_list() -> QuerySet[Upload]:
    """All uploads; ordering and slicing are the pager's job."""
    return Upload.objects.all()


def upload_get(*, upload_id: int) -> Upload:
    """One upload by id; NotFound if there is none."""
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None:
        raise NotFound(f"No upload with id {upload_id}.")
    return upload

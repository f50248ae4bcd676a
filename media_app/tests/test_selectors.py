"""Reads of Media: a page of rows by id costs one query when it holds only images, and
shows what the annotated list rows show (parent sha256, frame count)."""

from __future__ import annotations

import hashlib

from media_app.models import Media, MediaType
from media_app.selectors import media_by_ids, media_queryset


def _media(n: int, media_type: str = MediaType.IMAGE, parent: Media | None = None) -> Media:
    return Media.objects.create(
        sha256=hashlib.sha256(f"selector-{n}".encode()).hexdigest(),
        media_type=media_type,
        file=f"media/x/{n}.jpg",
        width=64,
        height=48,
        format="JPEG",
        byte_size=100,
        parent=parent,
        frame_number=n if parent else None,
    )


def _shown(rows) -> dict:
    return {m.pk: (m.parent_sha256, m.frame_count) for m in rows}


def test_images_by_id_cost_one_query_and_show_what_the_list_shows(db, django_assert_num_queries):
    ids = [_media(n).pk for n in range(3)]
    with django_assert_num_queries(1):
        rows = media_by_ids(ids)
    assert _shown(rows) == _shown(media_queryset().filter(pk__in=ids))


def test_frames_and_videos_by_id_get_parent_sha256_and_frame_counts(db, django_assert_max_num_queries):
    video = _media(100, MediaType.VIDEO)
    frames = [_media(101 + i, MediaType.VIDEO_FRAME, parent=video) for i in range(3)]
    image = _media(200)
    ids = [video.pk, frames[0].pk, frames[2].pk, image.pk]
    with django_assert_max_num_queries(3):
        rows = media_by_ids(ids)
    shown = _shown(rows)
    assert shown == _shown(media_queryset().filter(pk__in=ids))
    assert shown[video.pk] == (None, 3) and shown[frames[0].pk] == (video.sha256, 0)

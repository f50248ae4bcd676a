"""Keypoints of stored pictures, kept in the storage beside the pictures.

The geometric check (``query.geometry``) compares the query's keypoints with those of
each of the first results. Finding a stored picture's keypoints means reading its file
and decoding it: for a 12-megapixel photograph about 60 ms (decode 38, keypoints 23),
ten times in a search. Kept, they are one small read (about 38 kB for 1,000 keypoints)
that every web process and host sharing the storage finds, so each picture is decoded
for its keypoints once, by the first search that checks it (a small picture, cheaper to
read again than to keep, is not kept by a search: ``KEEP_FROM_PIXELS``).

One file per picture, named by its sha256 (``keypoints/ab/cd/<sha256>.orb``), removed
when the picture is deleted (``forget``). The file starts with a signature of the
parameters that made it (``geometry``'s side, keypoint count, ORB settings, the stored
decode): a file made with other parameters, or one that does not read back whole, is
made again from the picture and replaced.
"""

from __future__ import annotations

import hashlib
import logging
import struct

import numpy as np

from search_app.query import geometry

logger = logging.getLogger(__name__)

PREFIX = "keypoints"
EXTENSION = "orb"
# The stored picture is decoded at least this large on its longer side before the
# keypoints are found at ``geometry.SIDE`` (a JPEG's reduced DCT scale above it).
DECODE_LONG_SIDE = 1024
# A search keeps the keypoints it found only for a picture larger than this: keeping
# costs about 3 ms (a file and a query), finding them again in a 320 x 240 picture about
# 3 ms too, in a 640 x 427 photograph about 11 ms, in a 12-megapixel one 60 ms
# (measured on the development machine). ``manage.py keypoints`` and the ingest keep
# every picture's.
KEEP_FROM_PIXELS = 400 * 300
_MAGIC = b"VFKP"
_HEADER = struct.Struct("<4s8sHHI")  # magic, signature, width, height, keypoint count
_SIGNATURE = hashlib.sha256(repr((1, geometry.SIDE, geometry.FEATURES, geometry.ORB_SETTINGS, DECODE_LONG_SIDE)).encode()).hexdigest()[:8].encode()


def name_for(sha256: str) -> str:
    from media_app.imaging import sharded_name

    return sharded_name(PREFIX, sha256, EXTENSION)


def encode(kp: geometry.Keypoints) -> bytes:
    n = 0 if kp.descriptors is None else len(kp.descriptors)
    width, height = kp.size
    head = _HEADER.pack(_MAGIC, _SIGNATURE, width, height, n)
    if not n:
        return head
    return head + np.ascontiguousarray(kp.points[:n], dtype="<f4").tobytes() + np.ascontiguousarray(kp.descriptors, dtype=np.uint8).tobytes()


def decode(data: bytes) -> geometry.Keypoints | None:
    """The keypoints in ``data``; None when it was made with other parameters or is
    not whole."""
    if len(data) < _HEADER.size:
        return None
    magic, signature, width, height, n = _HEADER.unpack_from(data)
    if magic != _MAGIC or signature != _SIGNATURE or len(data) != _HEADER.size + n * (8 + 32) or not width or not height:
        return None
    points_end = _HEADER.size + n * 8
    points = np.frombuffer(data, dtype="<f4", count=n * 2, offset=_HEADER.size).reshape(n, 2).astype(np.float32)
    descriptors = np.frombuffer(data, dtype=np.uint8, count=n * 32, offset=points_end).reshape(n, 32).copy() if n else None
    return geometry.Keypoints(points, descriptors, (width, height))


def open_stored(name: str):
    """A stored picture, upright RGB, decoded at a reduced scale for its keypoints."""
    from django.core.files.storage import default_storage

    from core.images import to_rgb
    from media_app.imaging import open_image_reduced

    with default_storage.open(name, "rb") as fh:
        img, _ = open_image_reduced(fh, min_long=DECODE_LONG_SIDE)
        return to_rgb(img)


def read(sha256: str) -> geometry.Keypoints | None:
    """The kept keypoints of a picture, or None (none kept, or kept with other
    parameters, or unreadable)."""
    return _read(sha256)[0]


def _read(sha256: str) -> tuple[geometry.Keypoints | None, bool]:
    """(the kept keypoints or None, whether a file is there)."""
    from django.core.files.storage import default_storage

    try:
        with default_storage.open(name_for(sha256), "rb") as fh:
            data = fh.read(_HEADER.size + geometry.FEATURES * 2 * (8 + 32) + 1)
    except FileNotFoundError:
        return None, False
    except Exception:  # an unreachable storage: the picture is read instead
        logger.warning("keypoints of %s: cannot read the kept file", sha256, exc_info=True)
        return None, False
    return decode(data), True


def write(sha256: str, kp: geometry.Keypoints, *, replace: bool = True) -> None:
    """Keep ``kp`` for the picture ``sha256``; ``replace``: a file already there (made
    with other parameters, or damaged) is replaced, else it is known to be absent.
    Nothing is kept once the picture is gone (it may be deleted while its keypoints are
    being found)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from media_app.models import Media
    from media_app.services import storage_delete_quietly

    name = name_for(sha256)
    try:
        if replace and default_storage.exists(name):
            if read(sha256) is not None:
                return  # another process kept them a moment ago
            default_storage.delete(name)
        saved = default_storage.save(name, ContentFile(encode(kp)))
    except Exception:  # keeping is an optimisation: the search goes on without it
        logger.warning("keypoints of %s: cannot keep them", sha256, exc_info=True)
        return
    if saved != name:  # a concurrent search kept the same keypoints under the name first
        storage_delete_quietly(saved)
    elif not Media.objects.filter(sha256=sha256).exists():
        storage_delete_quietly(saved)


def for_picture(sha256: str, file_name: str, *, keep: bool = True) -> geometry.Keypoints:
    """The keypoints of a stored picture: kept ones, else found in its file (and kept,
    with ``keep``)."""
    found, present = _read(sha256)
    if found is None:
        found = geometry.keypoints(open_stored(file_name))
        if keep:
            write(sha256, found, replace=present)
    return found


def worth_keeping(width: int | None, height: int | None) -> bool:
    """Whether a search keeps the keypoints it found in a picture of this size."""
    return (width or 0) * (height or 0) > KEEP_FROM_PIXELS


def on_ingest_media_stored(*, media, options, **_) -> str | None:
    """With ``KEYPOINTS_AT_INGEST``: keep the keypoints of a picture an ingest stored (a
    video's keyframes), in the import thread; a picture that cannot be read is reported."""
    from django.conf import settings

    from media_app.models import MediaType

    if not getattr(settings, "KEYPOINTS_AT_INGEST", False) or getattr(options, "dry_run", False):
        return None
    pictures = list(media.frames.all()) if media.media_type == MediaType.VIDEO else [media]
    for picture in pictures:
        try:
            for_picture(picture.sha256, picture.file.name)
        except Exception as exc:  # a search finds them later, or not at all if the file stays unreadable
            logger.warning("media %s: cannot keep its keypoints (%s)", picture.pk, exc)
            return f"keypoints not kept: {exc}"
    return None


def forget(*, sha256s: list[str], **_) -> None:
    """Remove the kept keypoints of deleted pictures (the media app's ``media_deleted``)."""
    from media_app.services import storage_delete_quietly

    storage_delete_quietly(*(name_for(s) for s in sha256s if s))


def fill(*, reporter=None, batch: int = 500, workers: int = 1) -> tuple[int, int]:
    """Find and keep the keypoints of every stored picture (image or keyframe) that has
    none kept with the current parameters, so that no search decodes a picture for
    them; resumable, a rerun continues. ``workers`` threads decode and find keypoints
    (Pillow and OpenCV let go of the GIL); this thread keeps them. Returns (made,
    unreadable)."""
    from concurrent.futures import ThreadPoolExecutor

    from core.progress import as_reporter
    from media_app.models import Media, MediaType

    reporter = as_reporter(reporter)
    pictures = Media.objects.exclude(media_type=MediaType.VIDEO)
    total = pictures.count()
    seen = made = unreadable = last = 0
    reporter(0, total, "keypoints")

    def find(row):
        pk, sha256, name = row
        kept, present = _read(sha256)
        if kept is not None:
            return row, None, present, None
        try:
            return row, geometry.keypoints(open_stored(name)), present, None
        except Exception as exc:  # a missing or unreadable file is left to the search's own try
            return row, None, present, exc

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while True:
            rows = list(pictures.filter(pk__gt=last).order_by("pk").values_list("pk", "sha256", "file")[:batch])
            if not rows:
                break
            last = rows[-1][0]
            for (pk, sha256, name), found, present, exc in pool.map(find, rows):
                seen += 1
                if exc is not None:
                    unreadable += 1
                    logger.warning("media %s: cannot find keypoints in %s (%s)", pk, name, exc)
                elif found is not None:
                    write(sha256, found, replace=present)
                    made += 1
            reporter(seen, total, f"{made} made" + (f", {unreadable} unreadable" if unreadable else ""))
    return made, unreadable

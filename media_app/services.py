"""Every write to Media and Upload. The API, the ingest command, the admin and the
Celery tasks all call these, so the batch path and the API path behave alike."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from core.errors import Conflict, InvalidInput, PayloadTooLarge
from core.progress import Reporter, as_reporter
from modelzoo.phash import NO_HASH, picture_hash

from . import hooks
from .imaging import file_picture_hash, hash_stream, make_thumbnail, open_image_reduced, sharded_name
from .models import Media, MediaType, Upload

if TYPE_CHECKING:
    from PIL import Image

    from .video import Keyframe, VideoInfo

logger = logging.getLogger(__name__)


def storage_delete_quietly(*names: str) -> None:
    """Delete stored files, logging (not raising) failures: used for cleanup paths."""
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # cleanup must never mask the original outcome
            logger.warning("could not delete stored file %s", name, exc_info=True)


def _store_with_thumbnail(*, stream: BinaryIO, sha256: str, prefix: str, extension: str, thumbnail: bytes | None) -> tuple[str, str]:
    """Write the original and its thumbnail under sha256-sharded names.

    The storage never overwrites: a racer writing the same bytes gets a suffixed name,
    which the loser deletes after the unique constraint decides the winner.
    """
    stream.seek(0)
    file_name = default_storage.save(sharded_name(prefix, sha256, extension), File(stream))
    thumb_name = ""
    try:
        if thumbnail is not None:
            thumb_name = default_storage.save(sharded_name("thumbs", sha256, "jpg"), ContentFile(thumbnail))
    except Exception:
        storage_delete_quietly(file_name)
        raise
    return file_name, thumb_name


def _create_unique(model, *, sha256: str, file_name: str, thumb_name: str, fields: dict):
    """Insert a row keyed by sha256; on a race, keep the winner and drop our files."""
    try:
        with transaction.atomic():
            obj = model.objects.create(sha256=sha256, file=file_name, thumbnail=thumb_name, **fields)
        return obj, True
    except IntegrityError:
        storage_delete_quietly(file_name, thumb_name)
        existing = model.objects.filter(sha256=sha256).first()
        if existing is None:
            raise
        return existing, False
    except BaseException:
        storage_delete_quietly(file_name, thumb_name)
        raise


def check_byte_size(size: int) -> None:
    """Reject an empty file (400) or one above MAX_UPLOAD_BYTES (413)."""
    if size == 0:
        raise InvalidInput("The file is empty.", code="empty_file")
    limit = settings.MAX_UPLOAD_BYTES
    if size > limit:
        raise PayloadTooLarge(f"File is {size} bytes, above the limit of {limit} bytes.")


def _check_declared_size(stream: BinaryIO) -> None:
    # An UploadedFile knows its size: refuse a huge one before reading it to hash it.
    declared = getattr(stream, "size", None)
    if isinstance(declared, int) and declared > settings.MAX_UPLOAD_BYTES:
        check_byte_size(declared)


def upload_create(*, stream: BinaryIO, original_name: str = "", user=None, username: str = "") -> tuple[Upload, bool]:
    """Validate an uploaded query image and store it once per sha256.

    Returns ``(upload, created)``; the same bytes uploaded again (also concurrently)
    return the existing record. A rejected file stores nothing.
    """
    _check_declared_size(stream)
    sha256, size = hash_stream(stream)
    check_byte_size(size)
    existing = Upload.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing, False
    # One decode, as small as the thumbnail and the hooks allow (a JPEG at a reduced DCT
    # scale, as strict a check as a full decode), serves the validation, the thumbnail
    # and the query vector the search app computes from it.
    plans = [plan for plan in hooks.upload_decoding() if plan]
    min_side = max((plan[0] for plan in plans), default=0)
    img, info = open_image_reduced(stream, min_side=min_side, min_long=settings.THUMBNAIL_SIZE)
    try:
        thumb = make_thumbnail(img)
        file_name, thumb_name = _store_with_thumbnail(stream=stream, sha256=sha256, prefix="uploads", extension=info.extension, thumbnail=thumb)
        upload, created = _create_unique(
            Upload,
            sha256=sha256,
            file_name=file_name,
            thumb_name=thumb_name,
            fields={
                "width": info.width,
                "height": info.height,
                "format": info.format,
                "byte_size": size,
                "original_name": _clean_name(original_name),
                "user": user if getattr(user, "is_authenticated", False) else None,
                "username": username or getattr(user, "username", "") or "",
            },
        )
        if created:
            for _, on_decoded in plans:
                on_decoded(upload=upload, image=img)
    finally:
        img.close()
    return upload, created


def upload_delete(*, upload: Upload) -> None:
    """Delete an upload's row, file and thumbnail (files after the row commits)."""
    names = (upload.file.name, upload.thumbnail.name)
    pk, sha256 = upload.pk, upload.sha256
    with transaction.atomic():
        upload.delete()
        transaction.on_commit(lambda: storage_delete_quietly(*names))
        transaction.on_commit(lambda: hooks.upload_deleted(upload_ids=[pk], sha256s=[sha256]))


def media_create_image(
    *,
    stream: BinaryIO,
    original_name: str = "",
    source_path: str = "",
    check_size: bool = False,
    sha256: str = "",
    byte_size: int | None = None,
    decode_min_side: int = 0,
    on_decoded: Callable[[Image.Image], None] | None = None,
) -> tuple[Media, bool]:
    """Validate and store one image as a Media row, once per sha256.

    Returns ``(media, created)``. ``check_size`` applies the upload byte limit (the
    ingest command reads local files and has no such limit).

    The image is decoded once (see ``imaging.open_image_reduced``: a JPEG at the
    smallest DCT scale that still covers the thumbnail and ``decode_min_side`` on its
    shorter side, which is as strict a check as a full decode). ``on_decoded(image)``
    is then called with that decoded image before anything is stored, so a caller can
    take what else it needs from the same decode (the ingest prepares the embedding
    input). ``sha256``/``byte_size``: the caller's hash of ``stream`` (the ingest has
    just hashed the file to find duplicates; hashing it twice buys nothing).
    """
    if check_size:
        _check_declared_size(stream)
    if sha256 and byte_size is not None:
        size = byte_size
        stream.seek(0)
    else:
        sha256, size = hash_stream(stream)
    if check_size:
        check_byte_size(size)
    existing = Media.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing, False
    img, info = open_image_reduced(stream, min_side=decode_min_side, min_long=settings.THUMBNAIL_SIZE)
    try:
        thumb = make_thumbnail(img)
        phash = _or_no_hash(picture_hash(img))
        if on_decoded is not None:
            on_decoded(img)
    finally:
        img.close()
    file_name, thumb_name = _store_with_thumbnail(stream=stream, sha256=sha256, prefix="media", extension=info.extension, thumbnail=thumb)
    return _create_unique(
        Media,
        sha256=sha256,
        file_name=file_name,
        thumb_name=thumb_name,
        fields={
            "media_type": MediaType.IMAGE,
            "width": info.width,
            "height": info.height,
            "format": info.format,
            "byte_size": size,
            "original_name": _clean_name(original_name),
            "source_path": source_path,
            "phash": phash,
        },
    )


def media_create_video(
    *,
    path: Path,
    sha256: str,
    byte_size: int,
    info: VideoInfo,
    keyframes: Sequence[Keyframe],
    original_name: str = "",
    source_path: str = "",
    playable: Path | None = None,
) -> tuple[Media, bool]:
    """Store a video and its keyframes (extracted by media_app.video) as Media rows,
    all or nothing; ``playable`` is a copy browsers play (media_app.video.
    transcode_playable), stored beside the original when the original is not one.

    Every file is written first (the video byte for byte, its thumbnail, each frame and
    frame thumbnail), then the video row and all its frame rows are created in one
    transaction, so a video row exists only when all of its frames do. Any failure or
    interrupt removes the files written here. Returns ``(video, created)``; a video
    already present (also one a concurrent run stored a moment ago) returns that row.
    ``sha256``/``byte_size`` are the caller's hash of ``path`` (it hashed the file to
    decide whether to decode it at all; hashing gigabytes twice buys nothing).
    """
    existing = Media.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing, False
    if not keyframes:
        raise InvalidInput("Video has no keyframes to store.", code="corrupt_video")
    video_name = _clean_name(original_name)
    stored: list[str] = []
    try:
        with open(path, "rb") as fh:
            file_name, thumb_name = _store_with_thumbnail(
                stream=fh, sha256=sha256, prefix="media", extension=info.extension, thumbnail=keyframes[0].thumb_path.read_bytes()
            )
        stored += [file_name, thumb_name]
        playable_name = ""
        if playable is not None:
            with open(playable, "rb") as fh:
                playable_name = default_storage.save(sharded_name("media", sha256, "playable.mp4"), File(fh))
            stored.append(playable_name)
        frame_names = []
        for kf in keyframes:
            with open(kf.path, "rb") as fh:
                frame_name = default_storage.save(sharded_name("frames", kf.sha256, "jpg"), File(fh))
            stored.append(frame_name)
            frame_thumb = default_storage.save(sharded_name("thumbs", kf.sha256, "jpg"), ContentFile(kf.thumb_path.read_bytes()))
            stored.append(frame_thumb)
            with open(kf.thumb_path, "rb") as fh:
                frame_hash = _or_no_hash(file_picture_hash(fh))  # the thumbnail holds more than the hash's 32 x 32 pixels
            frame_names.append((frame_name, frame_thumb, frame_hash))
        with transaction.atomic():
            video = Media.objects.create(
                sha256=sha256,
                media_type=MediaType.VIDEO,
                file=file_name,
                thumbnail=thumb_name,
                playable=playable_name,
                width=info.width,
                height=info.height,
                format=info.format,
                byte_size=byte_size,
                duration=info.duration,
                original_name=video_name,
                source_path=source_path,
            )
            Media.objects.bulk_create(
                [
                    Media(
                        sha256=kf.sha256,
                        media_type=MediaType.VIDEO_FRAME,
                        file=frame_name,
                        thumbnail=frame_thumb,
                        width=kf.width,
                        height=kf.height,
                        format="JPEG",
                        byte_size=kf.byte_size,
                        # A media-fragment name ("clip.mp4#t=12.400") says where it is from.
                        original_name=_frame_name(video_name, kf.timestamp),
                        source_path=source_path,
                        parent=video,
                        frame_number=kf.frame_number,
                        timestamp=kf.timestamp,
                        phash=frame_hash,
                    )
                    for kf, (frame_name, frame_thumb, frame_hash) in zip(keyframes, frame_names, strict=True)
                ]
            )
        return video, True
    except IntegrityError:
        storage_delete_quietly(*stored)
        existing = Media.objects.filter(sha256=sha256).first()
        if existing is not None:
            return existing, False
        # Frame bytes embed the video's sha256, so only an exact copy of one of this
        # video's own frame files, imported on its own, can collide here.
        raise Conflict("A keyframe of this video is already stored as a separate media item.", code="frame_conflict")
    except BaseException:
        storage_delete_quietly(*stored)
        raise


def _or_no_hash(value: int | None) -> int:
    return NO_HASH if value is None else value


def media_without_hash():
    """The pictures (images and keyframes) stored before hashes were kept."""
    return Media.objects.filter(phash__isnull=True).exclude(media_type=MediaType.VIDEO)


def media_hashes_fill(*, reporter: Reporter | None = None, batch: int = 500) -> tuple[int, int]:
    """Store the perceptual hash of every picture (image or keyframe) stored before
    hashes were kept; resumable, a rerun continues. Returns (hashed, unreadable)."""
    reporter = as_reporter(reporter)
    pending = media_without_hash()
    total = pending.count()
    hashed = unreadable = last = 0
    reporter(0, total, "hashing pictures")
    while True:
        rows = list(pending.filter(pk__gt=last).order_by("pk").values_list("pk", "file")[:batch])
        if not rows:
            break
        updates = []
        for pk, name in rows:
            last = pk
            try:
                with default_storage.open(name, "rb") as fh:
                    updates.append(Media(pk=pk, phash=_or_no_hash(file_picture_hash(fh))))
            except Exception as exc:  # a missing or unreadable file stays unhashed; the rest go on
                unreadable += 1
                logger.warning("media %s: cannot hash %s (%s)", pk, name, exc)
        Media.objects.bulk_update(updates, ["phash"])
        hashed += len(updates)
        reporter(hashed + unreadable, total, f"{unreadable} unreadable" if unreadable else "")
    return hashed, unreadable


def _frame_name(video_name: str, timestamp: float) -> str:
    suffix = f"#t={timestamp:.3f}"
    return (video_name or "video")[: 255 - len(suffix)] + suffix


def media_delete(*, media: Media) -> None:
    """Delete a media (and, for a video, its frames): rows, files, and index entries."""
    rows = [media, *media.frames.all()] if media.media_type == MediaType.VIDEO else [media]
    names = [n for m in rows for n in (m.file.name, m.thumbnail.name, m.playable.name) if n]
    ids = [m.pk for m in rows]
    shas = [m.sha256 for m in rows]
    with transaction.atomic():
        media.delete()
        transaction.on_commit(lambda: storage_delete_quietly(*names))
        transaction.on_commit(lambda: _forget_in_indexes(ids, shas))


def _forget_in_indexes(media_ids: list[int], sha256s: list[str]) -> None:
    """Tell the apps above that these media are gone (the search app's indexes and
    what it keeps per picture)."""
    hooks.media_deleted(media_ids=media_ids, sha256s=sha256s)


def _clean_name(name: str) -> str:
    """Keep only the base name of a client-supplied file name (no path traversal)."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "")
    if name in (".", ".."):
        return ""
    return name[:255]


def media_make_playable(*, media: Media) -> bool:
    """Give a video stored before copies were made at ingest the copy browsers play
    (media_app.video.transcode_playable), when its original is not playable as it is.
    Returns whether a copy was stored. Idempotent: a video with a copy, or one that
    plays as it is, is left alone; of two concurrent runs one copy is kept."""
    import shutil
    import tempfile

    from .video import browser_playable, probe_video, transcode_playable

    if media.media_type != MediaType.VIDEO or media.playable:
        return False
    with tempfile.TemporaryDirectory(prefix="vframe-playable-") as tmp:
        try:
            source = Path(default_storage.path(media.file.name))
        except NotImplementedError:  # remote storage: FFmpeg reads a local copy
            source = Path(tmp) / f"original.{media.format or 'video'}"
            with default_storage.open(media.file.name, "rb") as src, open(source, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        if browser_playable(probe_video(source)):
            return False
        copy = transcode_playable(source, Path(tmp) / "playable.mp4")
        with open(copy, "rb") as fh:
            name = default_storage.save(sharded_name("media", media.sha256, "playable.mp4"), File(fh))
    if not Media.objects.filter(pk=media.pk, playable="").update(playable=name):
        storage_delete_quietly(name)  # another run stored one first, or the media is gone
        return False
    media.playable.name = name
    return True

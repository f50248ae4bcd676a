"""Running an ingest: workers, per-file import, classification by decoding.

The package docstring (media_app.ingest) describes the whole flow and its crash safety.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from queue import Empty, Queue
from typing import Any, BinaryIO

from django.conf import settings
from django.db import connection, connections
from PIL import Image

from core.errors import DomainError, InvalidInput, UnsupportedMediaType
from core.progress import Reporter

from .. import hooks
from ..imaging import ACCEPTED_FORMATS, CallerOwnedStream, hash_stream, open_image, open_image_reduced
from ..models import Media
from ..services import media_create_image, media_create_video
from ..video import Interrupted, KeyframeOptions, VideoInfo, browser_playable, extract_keyframes, probe_video, transcode_playable
from .embed import IngestEmbedding
from .recovery import Owner, ingest_recover
from .results import DUPLICATE, IMPORTED, INTERRUPTED, FileResult, IngestOptions, IngestSummary, os_code, os_message, skipped
from .walk import ingest_collect, open_confined

logger = logging.getLogger(__name__)


def ingest_run(
    *,
    paths: Sequence[Path] | None = None,
    files: Sequence[Path] | None = None,
    problems: Sequence[FileResult] = (),
    options: IngestOptions | None = None,
    reporter: Reporter | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    stop: threading.Event | None = None,
) -> IngestSummary:
    """Import every file under ``paths`` (or the already collected ``files``).

    Returns the summary; never raises for a bad file. Ctrl-C (KeyboardInterrupt) or
    ``stop`` being set ends the run after the files in progress are finished or rolled
    back, with ``summary.interrupted`` true. ``reporter(current, total, message)`` is
    called after each file, ``on_result`` with each file's result.
    """
    options = options or IngestOptions()
    stop = stop or threading.Event()
    if files is None:
        files, problems = ingest_collect(paths or [], confine_to=options.confine_to)
    summary = IngestSummary(dry_run=options.dry_run, total=len(files) + len(problems))
    lock = threading.Lock()

    def record(result: FileResult) -> None:
        with lock:
            summary.add(result)
            if on_result is not None:
                on_result(result)
            if reporter is not None:
                reporter(summary.done, summary.total, f"{result.status}: {result.path}")

    for problem in problems:
        record(problem)
    owner = None if options.dry_run else Owner.acquire()
    threads: list[threading.Thread] = []
    try:
        if owner is not None:
            summary.recovered_files = ingest_recover(exclude=owner.name)
        workers = _effective_workers(options.workers)
        embedding = None
        if options.features and files and not options.dry_run:
            # Starts loading the model now, while the first files are decoded.
            embedding = IngestEmbedding(options.features, stop=stop, flush_in_caller=not _threads_share_database())
        batch = _Batch(options=options, owner=owner, stop=stop, embedding=embedding)
        try:
            try:
                if workers == 1:
                    for path in files:
                        if stop.is_set():
                            break
                        _record_unless_interrupted(record, batch.ingest(path), summary)
                else:
                    _run_threads(files, workers, lambda p: _record_unless_interrupted(record, batch.ingest(p), summary), stop, threads)
            except KeyboardInterrupt:
                stop.set()
        finally:
            if embedding is not None:
                summary.embedded = embedding.close()
        if stop.is_set():
            summary.interrupted = True
    finally:
        # A worker still running (a second Ctrl-C cut the wait) may be storing files:
        # keep its journal and hold the lock until the process exits, so the next
        # run's recovery, not this one, decides what is left over.
        if owner is not None and not any(t.is_alive() for t in threads):
            owner.release()
    return summary


def _record_unless_interrupted(record, result: FileResult, summary: IngestSummary) -> None:
    if result.status == INTERRUPTED:
        summary.interrupted = True
    else:
        record(result)


def _threads_share_database() -> bool:
    # Other threads have their own connections: they cannot see rows of an open
    # transaction (a test, or a caller's atomic block), and SQLite's shared in-memory
    # database locks whole tables.
    if connection.in_atomic_block:
        return False
    return not (connection.vendor == "sqlite" and connection.is_in_memory_db())


def _effective_workers(requested: int) -> int:
    # Work in the caller's thread when other threads cannot use the database.
    return max(1, requested) if _threads_share_database() else 1


def _run_threads(files: Sequence[Path], workers: int, handle: Callable[[Path], None], stop: threading.Event, threads: list[threading.Thread]) -> None:
    queue: Queue = Queue(maxsize=workers * 2)  # bounded: never far ahead of the workers

    def work() -> None:
        try:
            while (path := queue.get()) is not None:
                if not stop.is_set():
                    try:
                        handle(path)
                    except Exception:  # ingest() reports errors; this is a last resort
                        logger.exception("ingest worker failed on %s", path)
        finally:
            connections.close_all()  # this thread's connections, not the caller's

    threads.extend(threading.Thread(target=work, name=f"ingest-{i}", daemon=True) for i in range(workers))
    for thread in threads:
        thread.start()
    try:
        for path in files:
            if stop.is_set():
                break
            queue.put(path)
    except BaseException:
        stop.set()
        raise
    finally:
        if stop.is_set():
            while True:
                try:
                    queue.get_nowait()
                except Empty:
                    break
        for _ in threads:
            queue.put(None)
        # Files in progress finish or roll back; a second Ctrl-C here exits at once and
        # leaves the rest to the next run's recovery.
        for thread in threads:
            thread.join()


class _Batch:
    """State shared by the workers of one run."""

    def __init__(self, *, options: IngestOptions, owner: Owner | None, stop: threading.Event, embedding: IngestEmbedding | None = None):
        self.options = options
        self.embedding = embedding
        self.keyframes = options.keyframes or KeyframeOptions.from_settings()
        self.owner = owner
        self.stop = stop
        self.lock = threading.Lock()
        self.in_flight: dict[str, tuple[threading.Event, str]] = {}
        self.seen: dict[str, str] = {}  # dry run only: what a real run would have stored

    @contextmanager
    def claim(self, sha256: str, path: str) -> Iterator[str]:
        """Let one worker at a time handle given bytes: two copies of one video are
        decoded once, and the second is then a duplicate of the first. Yields the path
        of an earlier file with the same bytes in this batch, or ""."""
        if self.options.dry_run:
            with self.lock:
                earlier = self.seen.setdefault(sha256, path)
            yield "" if earlier == path else earlier
            return
        while True:
            with self.lock:
                holder = self.in_flight.get(sha256)
                if holder is None:
                    done = threading.Event()
                    self.in_flight[sha256] = (done, path)
                    break
            holder[0].wait(0.5)
            if self.stop.is_set():
                raise Interrupted()
        try:
            yield ""
        finally:
            with self.lock:
                self.in_flight.pop(sha256, None)
            done.set()

    def ingest(self, path: Path) -> FileResult:
        try:
            return self._ingest(path)
        except Interrupted:
            return FileResult(path=str(path), status=INTERRUPTED)
        except DomainError as exc:
            return skipped(path, exc.code, exc.message)
        except OSError as exc:
            return skipped(path, os_code(exc), os_message(exc))
        except Exception as exc:  # one file must never end the batch
            logger.exception("ingest failed on %s", path)
            return skipped(path, "error", f"{type(exc).__name__}: {exc}")

    def _ingest(self, path: Path) -> FileResult:
        confined = self.options.confine_to is not None
        if not confined:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return skipped(path, "not_regular_file", "Not a regular file (FIFO, socket or device).")
        # A confined ingest learns nothing about a path before it is known to be inside
        # the allowed folders: open_confined checks that, and that it is a regular file.
        with open_confined(path, self.options.confine_to) if confined else open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return skipped(path, "empty_file", "The file is empty.")
            sha256, size = hash_stream(fh)
            with self.claim(sha256, str(path)) as earlier:
                existing = Media.objects.filter(sha256=sha256).first()
                if existing is not None:
                    return self._duplicate(path, existing)
                if earlier:
                    return FileResult(path=str(path), status=DUPLICATE, message=f"same bytes as {earlier} (earlier in this batch)")
                kind = _classify(fh, path)
                if self.options.dry_run:
                    return self._validate(fh, path, kind)
                if kind == "image":
                    return self._import_image(fh, path, sha256, size)
                # FFmpeg opens the file again by name: the real path, checked just now.
                return self._import_video(Path(os.path.realpath(path)) if confined else path, sha256, size)

    def _validate(self, fh: BinaryIO, path: Path, kind: str) -> FileResult:
        # A dry run validates images as an import would (the same decode) but only
        # probes videos: extracting keyframes is the expensive part it exists to avoid.
        if kind == "image":
            open_image_reduced(fh, min_long=settings.THUMBNAIL_SIZE)[0].close()
        return FileResult(path=str(path), status=IMPORTED, kind=kind)

    def _import_image(self, fh: BinaryIO, path: Path, sha256: str, size: int) -> FileResult:
        embedding = self.embedding if self.embedding is not None and self.embedding.active else None
        prepared: dict = {}
        try:
            with self.owner.journal([sha256], ("media", "thumbs")):
                media, created = media_create_image(
                    stream=fh,
                    original_name=path.name,
                    source_path=str(path),
                    sha256=sha256,
                    byte_size=size,
                    # One decode validates, makes the thumbnail and the model input.
                    decode_min_side=embedding.min_side if embedding else 0,
                    on_decoded=(lambda img: prepared.update(embedding.prepare(img))) if embedding else None,
                )
        except BaseException:
            if embedding is not None:
                embedding.discard(prepared)
            raise
        if not created:  # another process stored the same bytes a moment ago
            if embedding is not None:
                embedding.discard(prepared)
            return self._duplicate(path, media)
        pooled_models = embedding.submit(media.pk, prepared) if embedding is not None else frozenset()
        result = FileResult(path=str(path), status=IMPORTED, kind="image", media_id=media.pk)
        self._media_stored(media, result, pooled_models=pooled_models)
        return result

    def _import_video(self, path: Path, sha256: str, size: int) -> FileResult:
        scratch = self.owner.scratch_dir()
        try:
            info, keyframes, warning = extract_keyframes(path, video_sha256=sha256, out_dir=scratch, options=self.keyframes, should_stop=self.stop.is_set)
            playable, problem = _playable_copy(path, info, scratch, should_stop=self.stop.is_set)
            warning = "; ".join(w for w in (warning, problem) if w)
            with self.owner.journal([sha256, *(k.sha256 for k in keyframes)], ("media", "thumbs", "frames")):
                media, created = media_create_video(
                    path=path,
                    sha256=sha256,
                    byte_size=size,
                    info=info,
                    keyframes=keyframes,
                    original_name=path.name,
                    source_path=str(path),
                    playable=playable,
                )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not created:
            return self._duplicate(path, media)
        result = FileResult(path=str(path), status=IMPORTED, kind="video", media_id=media.pk, frames=len(keyframes), warning=warning)
        self._media_stored(media, result)
        return result

    def _duplicate(self, path: Path, existing: Media) -> FileResult:
        where = f" from {existing.source_path}" if existing.source_path and existing.source_path != str(path) else ""
        result = FileResult(
            path=str(path),
            status=DUPLICATE,
            kind=existing.media_type,
            media_id=existing.pk,
            message=f"already imported as {existing.media_type} #{existing.pk} {existing.original_name!r}{where}",
        )
        if not self.options.dry_run:
            self._media_stored(existing, result)
        return result

    def _media_stored(self, media: Media, result: FileResult, *, pooled_models: frozenset[str] = frozenset()) -> None:
        """Let the apps above act on a stored media (the collections app adds it to
        ``options.collection``); a warning they return is reported for the file.
        ``pooled_models``: the models the run's embedding pass took it for."""
        for warning in hooks.ingest_media_stored(media=media, options=self.options, pooled_models=pooled_models):
            if warning:
                result.warning = warning


def _playable_copy(path: Path, info: VideoInfo, scratch: Path, *, should_stop: Callable[[], bool]) -> tuple[Path | None, str]:
    """An H.264/AAC MP4 of a video browsers cannot play as it is, in ``scratch``, and a
    warning when making it failed (the original is stored and searchable all the same)."""
    if browser_playable(info):
        return None, ""
    try:
        return transcode_playable(path, scratch / "playable.mp4", should_stop=should_stop), ""
    except Interrupted:
        raise
    except Exception as exc:  # a copy for viewing must never cost the evidence its import
        logger.warning("no playable copy of %s: %s", path, exc)
        return None, f"no copy browsers play ({info.codec} in {info.format}): {exc}"


def _classify(fh: BinaryIO, path: Path) -> str:
    """ "image" or "video", by decoding headers; raises a DomainError saying why not."""
    fh.seek(0)
    image_format = None
    try:
        with Image.open(CallerOwnedStream(fh)) as img:
            image_format = img.format
    except Image.DecompressionBombError:
        return "image"  # media_create_image reports it with our own pixel limit
    except Exception:  # Pillow raises many types for non-images
        image_format = None
    finally:
        fh.seek(0)
    if image_format in ACCEPTED_FORMATS:
        return "image"
    try:
        probe_video(path)
        return "video"
    except DomainError as exc:
        if image_format:
            raise UnsupportedMediaType(f"Image format {image_format} is not accepted (JPEG, PNG, WebP, GIF, BMP, TIFF).", code="unsupported_format") from None
        if exc.code != "not_media":
            raise
    try:  # neither opened: open_image still tells a damaged image from anything else
        open_image(fh).close()
    except InvalidInput:
        raise
    except DomainError:
        pass
    raise UnsupportedMediaType("Neither an accepted image (JPEG, PNG, WebP, GIF, BMP, TIFF) nor a video.", code="not_media")


def ingest_index(*, features: Iterable[Any] | None, reporter: Reporter | None = None) -> list[Any]:
    """Embed and index, in each feature (None: every active one), every media not yet
    in it (incremental); returns what the registered indexer (the search app's
    ``feature_update_index``) reported for each."""
    results: list[Any] = []
    for per_indexer in hooks.ingest_index(features=None if features is None else list(features), reporter=reporter):
        results.extend(per_indexer)
    return results

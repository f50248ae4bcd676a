"""Batch ingestion: walk folders, import every image and video once, report the rest.

``manage.py ingest`` is a thin shell around :func:`ingest_run`; a task ingesting a
server-side folder can call the same functions.

What happens to each file:

1. ``os.stat``: only regular files are opened (a FIFO would block forever, a device
   never ends); empty files are skipped.
2. It is hashed (sha256). A hash already in the database is a duplicate, reported with
   the existing row, and nothing is decoded: a rerun over a finished folder is cheap.
3. It is classified by decoding, never by extension: Pillow identifies images, FFmpeg
   probes videos.
4. Images go through ``media_create_image``, the same service as ``POST upload/``.
   Videos have their keyframes extracted into a scratch folder first; then
   ``media_create_video`` stores the files and creates the video row and all its frame
   rows in one transaction.

One bad file (unreadable, truncated, not media) is reported with a reason code and
skipped; the batch goes on.

Crash safety. Each file is imported on its own, files written before rows, rows in one
transaction; an exception, Ctrl-C or SIGTERM (the command turns it into Ctrl-C) makes
the services delete the files they had written. For what no handler sees (kill -9,
power loss) every run holds an *owner* lock (``flock`` on a file under
``DATA_DIR/ingest``, released by the kernel when the process dies, whatever the pid
namespace or host name), and before storing anything it writes a journal entry listing
the sha256 of every file it is about to store. The next run takes the locks of dead
owners, deletes every stored file of their journalled hashes that no row references,
and removes their scratch folders. Committed work is then a duplicate and the rest is
imported again, so rerunning finishes the job with no duplicate rows and no orphans.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, connections
from PIL import Image

from vframe_search.api.errors import DomainError, InvalidInput, UnsupportedMediaType

from .imaging import ACCEPTED_FORMATS, hash_stream, open_image
from .models import Media, Upload
from .services import media_create_image, media_create_video
from .video import Interrupted, KeyframeOptions, extract_keyframes, probe_video

logger = logging.getLogger(__name__)

Reporter = Callable[[int, int, str], None]

IMPORTED = "imported"
DUPLICATE = "duplicate"
SKIPPED = "skipped"
INTERRUPTED = "interrupted"


@dataclass
class FileResult:
    """What happened to one path. ``code`` says why a file was skipped."""

    path: str
    status: str
    kind: str = ""  # "image" or "video"
    code: str = ""
    message: str = ""
    media_id: int | None = None
    frames: int = 0
    warning: str = ""


@dataclass
class IngestOptions:
    """How to ingest; ``keyframes`` defaults to the VFRAME_VIDEO_* settings."""

    dry_run: bool = False
    workers: int = 1
    keyframes: KeyframeOptions | None = None
    collection: Any = None  # collections_app.models.Collection
    username: str = ""


@dataclass
class IngestSummary:
    """Counts for the end-of-run report; skipped files are kept with their reasons."""

    dry_run: bool = False
    total: int = 0
    images: int = 0
    videos: int = 0
    frames: int = 0
    duplicates: int = 0
    skipped: Counter = field(default_factory=Counter)
    failures: list[FileResult] = field(default_factory=list)
    warnings: list[FileResult] = field(default_factory=list)
    interrupted: bool = False
    recovered_files: int = 0

    @property
    def imported(self) -> int:
        return self.images + self.videos

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def done(self) -> int:
        return self.imported + self.duplicates + self.skipped_total

    def add(self, result: FileResult) -> None:
        if result.status == IMPORTED:
            if result.kind == "video":
                self.videos += 1
                self.frames += result.frames
            else:
                self.images += 1
        elif result.status == DUPLICATE:
            self.duplicates += 1
        elif result.status == SKIPPED:
            self.skipped[result.code] += 1
            self.failures.append(result)
        if result.warning:
            self.warnings.append(result)


# --- Walking ------------------------------------------------------------------------------


def ingest_collect(paths: Iterable[Path]) -> tuple[list[Path], list[FileResult]]:
    """Every regular file under ``paths`` (files count as themselves), in a stable
    order, and the entries that cannot be imported at all (unreadable folders, broken
    links, FIFOs...).

    Symlinks are followed (collections are often assembled with them); a folder reached
    twice, through a link loop or otherwise, is walked once. The whole list is built
    first so the progress bar knows the total (about 100 bytes per file).
    """
    files: list[Path] = []
    problems: list[FileResult] = []
    seen_dirs: set[tuple[int, int]] = set()
    for root in paths:
        root = Path(os.path.abspath(root))
        try:
            st = root.stat()
        except OSError as exc:
            problems.append(_skipped(root, _os_code(exc), _os_message(exc)))
            continue
        if stat.S_ISREG(st.st_mode):
            files.append(root)
        elif stat.S_ISDIR(st.st_mode):
            files.extend(_walk(root, seen_dirs, problems))
        else:
            problems.append(_skipped(root, "not_regular_file", "Not a regular file (FIFO, socket or device)."))
    return files, problems


def _walk(root: Path, seen_dirs: set[tuple[int, int]], problems: list[FileResult]) -> Iterator[Path]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                continue  # a symlink loop, or the same folder under two names
            seen_dirs.add(key)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(_skipped(folder, "unreadable_dir", f"Folder cannot be read: {_os_message(exc)}"))
            continue
        subdirs = []
        for entry in entries:
            path = folder / entry.name
            try:
                if entry.is_dir(follow_symlinks=True):
                    subdirs.append(path)
                elif entry.is_file(follow_symlinks=True):
                    yield path
                elif entry.is_symlink():
                    problems.append(_skipped(path, "broken_symlink", f"Symlink target does not exist: {os.readlink(path)}"))
                else:
                    problems.append(_skipped(path, "not_regular_file", "Not a regular file (FIFO, socket or device)."))
            except OSError as exc:
                problems.append(_skipped(path, _os_code(exc), _os_message(exc)))
        stack.extend(reversed(subdirs))  # depth first, in name order


# --- Running ------------------------------------------------------------------------------


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
        files, problems = ingest_collect(paths or [])
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
    owner = None if options.dry_run else _Owner.acquire()
    threads: list[threading.Thread] = []
    try:
        if owner is not None:
            summary.recovered_files = ingest_recover(exclude=owner.name)
        batch = _Batch(options=options, owner=owner, stop=stop)
        workers = _effective_workers(options.workers)
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


def _effective_workers(requested: int) -> int:
    # Other threads have their own connections: they cannot see rows of an open
    # transaction (a test, or a caller's atomic block), and SQLite's shared in-memory
    # database locks whole tables. Work in the caller's thread then.
    if connection.in_atomic_block:
        return 1
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        return 1
    return max(1, requested)


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

    def __init__(self, *, options: IngestOptions, owner: _Owner | None, stop: threading.Event):
        self.options = options
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
            return _skipped(path, exc.code, exc.message)
        except OSError as exc:
            return _skipped(path, _os_code(exc), _os_message(exc))
        except Exception as exc:  # one file must never end the batch
            logger.exception("ingest failed on %s", path)
            return _skipped(path, "error", f"{type(exc).__name__}: {exc}")

    def _ingest(self, path: Path) -> FileResult:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return _skipped(path, "not_regular_file", "Not a regular file (FIFO, socket or device).")
        if st.st_size == 0:
            return _skipped(path, "empty_file", "The file is empty.")
        with open(path, "rb") as fh:
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
                    return self._import_image(fh, path, sha256)
                return self._import_video(path, sha256, size)

    def _validate(self, fh: BinaryIO, path: Path, kind: str) -> FileResult:
        # A dry run decodes images fully (as an import would) but only probes videos:
        # extracting keyframes is the expensive part it exists to avoid.
        if kind == "image":
            open_image(fh).close()
        return FileResult(path=str(path), status=IMPORTED, kind=kind)

    def _import_image(self, fh: BinaryIO, path: Path, sha256: str) -> FileResult:
        with self.owner.journal([sha256], ("media", "thumbs")):
            media, created = media_create_image(stream=fh, original_name=path.name, source_path=str(path))
        if not created:  # another process stored the same bytes a moment ago
            return self._duplicate(path, media)
        result = FileResult(path=str(path), status=IMPORTED, kind="image", media_id=media.pk)
        self._add_to_collection(media, result)
        return result

    def _import_video(self, path: Path, sha256: str, size: int) -> FileResult:
        scratch = self.owner.scratch_dir()
        try:
            info, keyframes, warning = extract_keyframes(path, video_sha256=sha256, out_dir=scratch, options=self.keyframes, should_stop=self.stop.is_set)
            with self.owner.journal([sha256, *(k.sha256 for k in keyframes)], ("media", "thumbs", "frames")):
                media, created = media_create_video(
                    path=path, sha256=sha256, byte_size=size, info=info, keyframes=keyframes, original_name=path.name, source_path=str(path)
                )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not created:
            return self._duplicate(path, media)
        result = FileResult(path=str(path), status=IMPORTED, kind="video", media_id=media.pk, frames=len(keyframes), warning=warning)
        self._add_to_collection(media, result)
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
            self._add_to_collection(existing, result)
        return result

    def _add_to_collection(self, media: Media, result: FileResult) -> None:
        if self.options.collection is None:
            return
        from collections_app.services import collection_add_media

        try:
            collection_add_media(collection=self.options.collection, media=media, user=None, username=self.options.username)
        except DomainError as exc:
            result.warning = f"not added to collection {self.options.collection.pk}: {exc.message}"


class _NoClose:
    """The caller's file lent to Pillow: closing the image must not close our file."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def read(self, *args):
        return self._stream.read(*args)

    def seek(self, *args):
        return self._stream.seek(*args)

    def tell(self):
        return self._stream.tell()

    def close(self) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _classify(fh: BinaryIO, path: Path) -> str:
    """ "image" or "video", by decoding headers; raises a DomainError saying why not."""
    fh.seek(0)
    image_format = None
    try:
        with Image.open(_NoClose(fh)) as img:
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


def _skipped(path: Path | str, code: str, message: str) -> FileResult:
    return FileResult(path=str(path), status=SKIPPED, code=code, message=message)


def _os_code(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, FileNotFoundError):
        return "missing"
    return "unreadable"


def _os_message(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --- Indexing -----------------------------------------------------------------------------


def ingest_index(*, features: Iterable[Any], reporter: Reporter | None = None) -> None:
    """Embed and index, in each feature, every media not yet in it (incremental)."""
    from search_app.services import feature_update_index

    for feature in features:
        feature_update_index(feature=feature, reporter=reporter)


# --- Crash recovery -----------------------------------------------------------------------


def _ingest_root() -> Path:
    return Path(settings.DATA_DIR) / "ingest"


class _Owner:
    """One run's lock, journal and scratch space under ``DATA_DIR/ingest/<name>``.

    The lock file is locked before it becomes visible (locked under a temporary name,
    then renamed), so another run never mistakes a starting run for a dead one.
    """

    def __init__(self, name: str, fd: int):
        self.name = name
        self.fd = fd
        self.dir = _ingest_root() / name
        self.journal_dir = self.dir / "journal"
        self.scratch_root = self.dir / "scratch"

    @classmethod
    def acquire(cls) -> _Owner:
        root = _ingest_root()
        root.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        tmp = root / f"{name}.lock.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.replace(tmp, root / f"{name}.lock")
        owner = cls(name, fd)
        owner.journal_dir.mkdir(parents=True)
        owner.scratch_root.mkdir()
        return owner

    def release(self) -> None:
        """Normal end: everything journalled has finished, so just tidy up."""
        shutil.rmtree(self.dir, ignore_errors=True)
        (_ingest_root() / f"{self.name}.lock").unlink(missing_ok=True)
        os.close(self.fd)

    def scratch_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.scratch_root))

    @contextmanager
    def journal(self, shas: Sequence[str], prefixes: Sequence[str]) -> Iterator[None]:
        """Record what is about to be stored; on failure re-check that nothing of it
        is left without a row (the services clean up; this catches what they missed)."""
        entry_id = uuid.uuid4().hex
        entry = self.journal_dir / f"{entry_id}.json"
        tmp = self.journal_dir / f"{entry_id}.tmp"
        tmp.write_text(json.dumps({"shas": list(shas), "prefixes": list(prefixes)}))
        os.replace(tmp, entry)
        ok = False
        try:
            yield
            ok = True
        finally:
            if not ok:
                _remove_unreferenced(shas, prefixes)
            entry.unlink(missing_ok=True)


def ingest_recover(*, exclude: str = "") -> int:
    """Clean up after runs that died without cleaning up (kill -9, power loss).

    For every owner whose lock can be taken (its process is gone): delete the stored
    files of its journalled hashes that no row references, remove its scratch folders.
    Returns the number of files deleted. Safe to run while other runs are alive.
    """
    root = _ingest_root()
    if not root.is_dir():
        return 0
    removed = 0
    names = {p.name[: -len(".lock")] for p in root.glob("*.lock")} | {p.name for p in root.iterdir() if p.is_dir()}
    for name in sorted(names - {exclude}):
        lock_path = root / f"{name}.lock"
        fd = None
        if lock_path.exists():
            try:
                fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:
                pass  # its owner finished meanwhile and removed it
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue  # alive
        try:
            journal = root / name / "journal"
            for entry in sorted(journal.glob("*.json")) if journal.is_dir() else []:
                try:
                    data = json.loads(entry.read_text())
                except (OSError, ValueError):
                    continue
                removed += _remove_unreferenced(data.get("shas", []), data.get("prefixes", []))
            shutil.rmtree(root / name, ignore_errors=True)
            if fd is not None:
                lock_path.unlink(missing_ok=True)
        finally:
            if fd is not None:
                os.close(fd)
    for stale in root.glob("*.lock.tmp"):
        # Only a run killed between creating and renaming its lock leaves one; it had
        # not written anything yet. A live run holds it locked for microseconds.
        try:
            fd = os.open(stale, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            stale.unlink(missing_ok=True)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
    if removed:
        logger.info("ingest recovery removed %d stored files left by interrupted runs", removed)
    return removed


def _remove_unreferenced(shas: Sequence[str], prefixes: Sequence[str]) -> int:
    """Delete stored files named after ``shas`` (``<prefix>/ab/cd/<sha>*``, including
    the storage's de-collision suffixes) that no Media or Upload row references.

    A run still writing the same bytes right now could lose its file in the instant
    between writing it and committing its row; that needs a dead run's leftovers and a
    live run of the same bytes at the same moment, and recovery only runs at start.
    """
    shas = list(dict.fromkeys(shas))
    referenced: set[str] = set()
    for i in range(0, len(shas), 500):
        chunk = shas[i : i + 500]
        for model in (Media, Upload):
            for file_name, thumb_name in model.objects.filter(sha256__in=chunk).values_list("file", "thumbnail"):
                referenced.update((file_name, thumb_name))
    removed = 0
    for sha in shas:
        for prefix in prefixes:
            folder = f"{prefix}/{sha[:2]}/{sha[2:4]}"
            try:
                _, names = default_storage.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                full = f"{folder}/{name}"
                if name.startswith(sha) and full not in referenced:
                    try:
                        default_storage.delete(full)
                        removed += 1
                    except Exception:
                        logger.warning("could not delete orphaned file %s", full, exc_info=True)
    return removed

"""Crash recovery: what lets a run killed with -9 be finished by the next one.

Every run holds an owner lock (``flock`` on ``DATA_DIR/ingest/<owner>.lock``, released
by the kernel when the process dies, whatever its pid namespace or host name) and,
before storing anything, journals the sha256 of every file it is about to store. A
later run takes the locks of dead owners, deletes every stored file of their journalled
hashes that no row references, and removes their scratch folders.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from ..models import Media, Upload

logger = logging.getLogger(__name__)


def _ingest_root() -> Path:
    return Path(settings.DATA_DIR) / "ingest"


class Owner:
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
    def acquire(cls) -> Owner:
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
        # Renamed into place without the fsyncs of core.files.atomic_write: an entry is
        # written per stored file, and two syncs each would slow every ingest.
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
        for file_name, thumb_name, playable_name in Media.objects.filter(sha256__in=chunk).values_list("file", "thumbnail", "playable"):
            referenced.update((file_name, thumb_name, playable_name))
        for file_name, thumb_name in Upload.objects.filter(sha256__in=chunk).values_list("file", "thumbnail"):
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

"""The data directory's private modes, and what a killed upload leaves in it.

The data directory holds the SQLite database (API tokens and session keys in it), the
secret key, stored files, indexes and models. It is 0700 (0710 when a front proxy sends
stored files itself: its group must pass through to ``files/``, not list anything), the
database and the secret key 0600, created so and tightened at every start, so data
made by an older version or by hand (0755, 0644) does not stay readable to every local
user. Stored files get ``FILE_UPLOAD_PERMISSIONS`` (0640) from the storage.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

# Left by a write killed half-way (vframe_search.storage.AtomicFileSystemStorage).
INCOMING_SUFFIX = ".tmp"
INCOMING_MARK = ".incoming-"
# Untouched this long, such a file is no write in progress (writes touch it all the time).
INCOMING_MAX_AGE = 10 * 60


def _chmod(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)
    except FileNotFoundError:
        pass
    except OSError as exc:  # not ours (a read-only or foreign mount): say so, go on
        warnings.warn(f"{path}: could not set mode {mode:o}: {exc}", stacklevel=2)


def private_dir(path: Path, *, group_may_enter: bool = False) -> None:
    """Create ``path`` (and its parents) and make it 0700, or 0710 with ``group_may_enter``."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _chmod(path, 0o710 if group_may_enter else 0o700)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 when it is missing, else make it 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _chmod(path, 0o600)


def private_sqlite(path: Path) -> None:
    """The database file 0600 (an empty file is an empty SQLite database), and its journal
    files too (SQLite gives new ones the database's mode)."""
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        _chmod(path.with_name(path.name + suffix), 0o600)


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only from the start."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def sweep_incoming(root: Path, *, older_than: float) -> list[Path]:
    """Delete the ``*.incoming-*.tmp`` files under ``root`` untouched for ``older_than``
    seconds: writes killed half-way. A write still going on touches its file all the
    time, so its file is never that old. Returns what was deleted."""
    cutoff = time.time() - older_than
    removed = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if INCOMING_MARK not in name or not name.endswith(INCOMING_SUFFIX):
                continue
            path = Path(folder) / name
            try:
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue  # finished (or swept by another process) meanwhile
    if removed:
        logger.warning("removed %d incomplete file(s) left by interrupted writes under %s", len(removed), root)
    return removed


def sweep_incoming_at_start() -> threading.Thread | None:
    """At server start, in the background (a large storage takes a while to walk): the
    leftovers of writes killed half-way in the local storage, if it is local."""
    from django.core.files.storage import FileSystemStorage, default_storage

    if not isinstance(default_storage, FileSystemStorage) or not os.path.isdir(default_storage.location):
        return None

    def sweep() -> None:
        try:
            sweep_incoming(Path(default_storage.location), older_than=INCOMING_MAX_AGE)
        except Exception:
            logger.exception("sweeping incomplete files failed")

    thread = threading.Thread(target=sweep, name="sweep-incoming", daemon=True)
    thread.start()
    return thread

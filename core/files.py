"""Files that readers depend on are written to a temporary name and renamed into place,
so a crash never leaves a half-written file behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (POSIX needs the directory synced)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_name(path: Path) -> Path:
    """A hidden name beside ``path``, unique per call, for writing before the rename."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename_into_place(src: Path, path: Path) -> None:
    """Rename the complete file ``src`` (on the same filesystem) over ``path``, durably:
    ``src`` is fsynced before the rename and the folder after it."""
    _fsync_file(src)
    os.replace(src, path)
    fsync_dir(Path(path).parent)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for the caller, or a library that only takes
    a file name (hnswlib's ``save_index``), to write. When the block ends without an
    error the file is renamed into place (:func:`rename_into_place`); on any error it is
    removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        rename_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, then rename it into
    place (:func:`atomic_path`): on any error ``path`` is left as it was."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """``atomic_write`` of a bytes value."""
    atomic_write(path, lambda fh: fh.write(data))

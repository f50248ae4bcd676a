"""Finding the files to ingest: a recursive walk that survives link loops and
unreadable folders, reporting what it cannot read instead of failing.

A walk for a task (a server folder named through the API) is *confined* to the
folders allowed for ingest: a symlink, of a file or a folder, whose real path lies
outside them is not followed but reported (``symlink_outside_allowed``), and each file
is opened by :func:`open_confined`, which checks its real path again and opens it
without following a link, so a link swapped in after the walk leads nowhere either.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from core.errors import InvalidInput

from .results import FileResult, os_code, os_message, skipped

OUTSIDE_ALLOWED = "symlink_outside_allowed"
_OUTSIDE_MESSAGE = "A symlink that leads outside the folders allowed for ingest: not followed."


def ingest_collect(paths: Iterable[Path], *, confine_to: Sequence[Path] | None = None) -> tuple[list[Path], list[FileResult]]:
    """Every regular file under ``paths`` (files count as themselves), in a stable
    order, and the entries that cannot be imported at all (unreadable folders, broken
    links, FIFOs...).

    Symlinks are followed (collections are often assembled with them); a folder reached
    twice, through a link loop or otherwise, is walked once. With ``confine_to`` (real
    folder paths, see :func:`allowed_roots`) a symlink is followed only when its real
    path lies inside one of them. The whole list is built first so the progress bar
    knows the total (about 100 bytes per file).
    """
    files: list[Path] = []
    problems: list[FileResult] = []
    seen_dirs: set[tuple[int, int]] = set()
    roots = [Path(r) for r in confine_to] if confine_to is not None else None
    for root in paths:
        root = Path(os.path.abspath(root))
        if roots is not None and not is_inside(os.path.realpath(root), roots):
            problems.append(skipped(root, OUTSIDE_ALLOWED, "Not inside a folder allowed for ingest."))
            continue
        try:
            st = root.stat()
        except OSError as exc:
            problems.append(skipped(root, os_code(exc), os_message(exc)))
            continue
        if stat.S_ISREG(st.st_mode):
            files.append(root)
        elif stat.S_ISDIR(st.st_mode):
            files.extend(_walk(root, seen_dirs, problems, roots))
        else:
            problems.append(skipped(root, "not_regular_file", "Not a regular file (FIFO, socket or device)."))
    return files, problems


def allowed_roots() -> list[Path]:
    """The real paths of ``settings.INGEST_ALLOWED_DIRS``."""
    return [Path(os.path.realpath(p)) for p in settings.INGEST_ALLOWED_DIRS]


def is_inside(real_path: str | Path, roots: Sequence[Path]) -> bool:
    """True when ``real_path`` (already resolved) is one of ``roots`` or under one."""
    path = Path(real_path)
    return any(path == root or path.is_relative_to(root) for root in roots)


def open_confined(path: Path, roots: Sequence[Path]) -> BinaryIO:
    """``path`` opened for reading once its real path is known to lie inside ``roots``.

    The real path is opened one component at a time below its root, each with
    ``O_NOFOLLOW``: a symlink swapped in after the check (for the file or any folder on
    the way) fails to open (ELOOP) rather than leading elsewhere. InvalidInput
    (``symlink_outside_allowed``) when it lies outside; OSError when it cannot be read.
    """
    real = Path(os.path.realpath(path))
    root = next((r for r in roots if real == r or real.is_relative_to(r)), None)
    if root is None or real == root:
        raise InvalidInput(_OUTSIDE_MESSAGE, code=OUTSIDE_ALLOWED)
    parts = real.relative_to(root).parts
    cloexec = getattr(os, "O_CLOEXEC", 0)
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | cloexec)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | cloexec, dir_fd=folder)
            os.close(folder)
            folder = inner
        # O_NONBLOCK only so that a FIFO swapped in cannot block the open.
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | cloexec, dir_fd=folder)
    finally:
        os.close(folder)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput("Not a regular file (FIFO, socket or device).", code="not_regular_file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _walk(root: Path, seen_dirs: set[tuple[int, int]], problems: list[FileResult], roots: Sequence[Path] | None = None) -> Iterator[Path]:
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
            problems.append(skipped(folder, "unreadable_dir", f"Folder cannot be read: {os_message(exc)}"))
            continue
        subdirs = []
        for entry in entries:
            path = folder / entry.name
            try:
                if roots is not None and entry.is_symlink() and os.path.exists(path) and not is_inside(os.path.realpath(path), roots):
                    problems.append(skipped(path, OUTSIDE_ALLOWED, _OUTSIDE_MESSAGE))
                elif entry.is_dir(follow_symlinks=True):
                    subdirs.append(path)
                elif entry.is_file(follow_symlinks=True):
                    yield path
                elif entry.is_symlink():
                    # A confined walk does not tell where a link points (it may be outside).
                    target = "" if roots is not None else f": {os.readlink(path)}"
                    problems.append(skipped(path, "broken_symlink", f"Symlink target does not exist{target}"))
                else:
                    problems.append(skipped(path, "not_regular_file", "Not a regular file (FIFO, socket or device)."))
            except OSError as exc:
                problems.append(skipped(path, os_code(exc), os_message(exc)))
        stack.extend(reversed(subdirs))  # depth first, in name order


def allowed_server_folder(value: str) -> Path:
    """``value`` resolved, if it is a folder inside one of ``settings.INGEST_ALLOWED_DIRS``;
    else ValueError saying why. ``resolve()`` follows symlinks and '..', so a link cannot
    lead out of an allowed folder."""
    allowed = [Path(p).resolve() for p in settings.INGEST_ALLOWED_DIRS]
    if not allowed:
        raise ValueError("No server folder is allowed for ingest (set VFRAME_INGEST_ALLOWED_DIRS).")
    path = Path(value).expanduser().resolve()
    if not any(path == root or path.is_relative_to(root) for root in allowed):
        raise ValueError("This folder is not inside a folder allowed for ingest.")
    if not path.is_dir():
        raise ValueError("No such folder on the server.")
    return path

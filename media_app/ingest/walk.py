"""Finding the files to ingest: a recursive walk that survives link loops and
unreadable folders, reporting what it cannot read instead of failing."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.conf import settings

from .results import FileResult, os_code, os_message, skipped


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
            problems.append(skipped(root, os_code(exc), os_message(exc)))
            continue
        if stat.S_ISREG(st.st_mode):
            files.append(root)
        elif stat.S_ISDIR(st.st_mode):
            files.extend(_walk(root, seen_dirs, problems))
        else:
            problems.append(skipped(root, "not_regular_file", "Not a regular file (FIFO, socket or device)."))
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
            problems.append(skipped(folder, "unreadable_dir", f"Folder cannot be read: {os_message(exc)}"))
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
                    problems.append(skipped(path, "broken_symlink", f"Symlink target does not exist: {os.readlink(path)}"))
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

"""Local file storage for originals, thumbnails and keyframes.

Django's FileSystemStorage writes a file in place, under its final name. A write that
fails half-way (disk full, an I/O error) or a process killed mid-write leaves a partial
file there: it is served as if it were the evidence, and it squats on the sha256 name,
so the next save of the same bytes lands under a suffixed name while the fragment stays
for good. This storage writes to a temporary name in the same folder and links the
file to its final name only once it is complete, so a stored name always holds a whole
file. The link never replaces an existing file (a racer storing the same bytes keeps
its name; we take the next free one, as Django does), and a failed write removes its
temporary file before the error goes on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import secrets

from django.core.files.storage import FileSystemStorage


class AtomicFileSystemStorage(FileSystemStorage):
    """FileSystemStorage whose saved files appear whole or not at all."""

    def _save(self, name, content):
        directory, base = posixpath.split(str(name).replace("\\", "/"))
        # Django's own _save writes it (folder creation, permissions, locking), under a
        # name nobody else uses. It starts with the final name, so what a killed process
        # leaves behind is found by whoever cleans up after it (the ingest's recovery
        # deletes unreferenced files named after the sha256 it journalled).
        incoming = posixpath.join(directory, f"{base[:200]}.incoming-{secrets.token_hex(8)}.tmp")
        try:
            incoming = super()._save(incoming, content)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(incoming))
            raise
        try:
            while True:
                try:
                    os.link(self.path(incoming), self.path(name))
                    break
                except FileExistsError:
                    name = self.get_available_name(name)
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP) or os.path.lexists(self.path(name)):
                        raise
                    # A filesystem without hard links: rename (which would replace a file
                    # that appeared this very moment; a stored name is still never half).
                    os.rename(self.path(incoming), self.path(name))
                    break
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(incoming))
        return str(name).replace("\\", "/")

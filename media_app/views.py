"""Authenticated file serving: stored media are never open paths."""

from __future__ import annotations

import mimetypes
import os
import posixpath
import re

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.files.storage import default_storage
from django.db import connection as db_connection
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core.api.exceptions import error_body

from . import hooks

# Originals, query images, thumbnails and keyframes: every signed-in user reads them (the
# API's file_url and thumbnail_url link them). Anything else stored (a batch report, an
# index) is readable as the app that stored it decides (hooks.file_access), else by staff.
SHARED_FOLDERS = ("media/", "uploads/", "thumbs/", "frames/")


def _user(request):
    """The user of a session or a token, or None."""
    if request.user.is_authenticated:
        return request.user
    try:
        result = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    return result[0] if result is not None else None


def _may_read(path: str, user) -> bool:
    if path.startswith(SHARED_FOLDERS):
        return True
    answers = [answer for answer in hooks.file_access(path=path, user=user) if answer is not None]
    return all(answers) if answers else bool(user.is_staff)


_CHUNK = 256 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class Unsatisfiable(ValueError):
    """A Range that starts beyond the end of the file (416)."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single ``Range: bytes=`` header, or None
    to answer the whole file (no header, several ranges, or one we do not read).
    Raises Unsatisfiable for a range that starts at or after ``size``."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:  # bytes=-N: the last N bytes
        length = int(match[2])
        if length == 0:
            raise Unsatisfiable
        return max(0, size - length), size - 1
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if match[2] and last < first:
        return None  # not a valid range: ignored, as the RFC says
    if first >= size:
        raise Unsatisfiable
    return first, min(last, size - 1)


class FileStream(StreamingHttpResponse):
    """``length`` bytes of an open file from where it stands, a chunk at a time, under
    ASGI too: Django's ASGI handler reads a plain iterator to its end before sending,
    which for a video is the whole file in memory."""

    def __init__(self, handle, length: int, **kwargs):
        self._handle, self._length = handle, length
        super().__init__(self._chunks(), **kwargs)
        self._resource_closers.append(handle.close)
        self["Content-Length"] = str(length)

    def _chunks(self):
        remaining = self._length
        while remaining > 0:
            data = self._handle.read(min(_CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data

    async def __aiter__(self):
        iterator = iter(self.streaming_content)
        done = object()
        while (chunk := await sync_to_async(next, thread_sensitive=False)(iterator, done)) is not done:
            yield chunk


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(default_storage.path(path))
    except NotImplementedError:  # remote storage: its exists() only knows objects, never folders
        return default_storage.exists(path)


@login_not_required
@require_GET
def serve_file(request, path: str):
    """Stream a stored file to an authenticated user (session or token).

    A single byte range (``Range: bytes=...``, what video players and Safari ask for to
    seek) is answered 206 with Content-Range; every answer says Accept-Ranges: bytes.
    In production set VFRAME_SENDFILE_HEADER so the front proxy sends the bytes (and
    answers ranges); on S3 the user is redirected to a short-lived signed URL.
    """
    user = _user(request)
    if user is None:
        return JsonResponse(error_body(code="not_authenticated", message="Authentication credentials were not provided."), status=401)
    path = posixpath.normpath(path).lstrip("/")
    if path.startswith("..") or "\x00" in path:
        raise Http404
    # Hidden (404, as the API hides others' reports) rather than refused: a 403 would
    # confirm that the path exists. A folder is not a file either.
    if not _may_read(path, user) or not _is_file(path):
        raise Http404
    if settings.S3_BUCKET:
        return HttpResponseRedirect(default_storage.url(path))
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if settings.SENDFILE_HEADER:
        response = HttpResponse(content_type=content_type)
        if settings.SENDFILE_HEADER == "X-Accel-Redirect":
            response["X-Accel-Redirect"] = settings.SENDFILE_PREFIX.rstrip("/") + "/" + path
        else:
            response["X-Sendfile"] = default_storage.path(path)
        return response
    size = default_storage.size(path)
    try:
        # If-Range names a version we do not track: the whole file is always right.
        wanted = None if request.META.get("HTTP_IF_RANGE") else byte_range(request.META.get("HTTP_RANGE", ""), size)
    except Unsatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    # A stream may stay open for minutes (a video the player paused): it must not keep a
    # connection of the process's bounded database pool meanwhile. Nothing after this
    # reads the database; one that did would simply open a connection again.
    if not db_connection.in_atomic_block:
        db_connection.close()
    handle = default_storage.open(path, "rb")
    if wanted is None:
        response = FileStream(handle, size, content_type=content_type)
    else:
        first, last = wanted
        handle.seek(first)
        response = FileStream(handle, last - first + 1, status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=86400"
    return response

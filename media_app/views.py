"""Authenticated file serving: stored media are never open paths."""

from __future__ import annotations

import mimetypes
import os
import posixpath

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, JsonResponse
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


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(default_storage.path(path))
    except NotImplementedError:  # remote storage: its exists() only knows objects, never folders
        return default_storage.exists(path)


@login_not_required
@require_GET
def serve_file(request, path: str):
    """Stream a stored file to an authenticated user (session or token).

    In production set VFRAME_SENDFILE_HEADER so the front proxy sends the bytes; on S3
    the user is redirected to a short-lived signed URL.
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
    response = FileResponse(default_storage.open(path, "rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400"
    return response

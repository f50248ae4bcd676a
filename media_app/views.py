"""Authenticated file serving: stored media are never open paths."""

from __future__ import annotations

import mimetypes
import posixpath

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.http import require_GET
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core.api.exceptions import error_body


def _authenticated(request) -> bool:
    if request.user.is_authenticated:
        return True
    try:
        result = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return False
    return result is not None


@login_not_required
@require_GET
def serve_file(request, path: str):
    """Stream a stored file to an authenticated user (session or token).

    In production set VFRAME_SENDFILE_HEADER so the front proxy sends the bytes; on S3
    the user is redirected to a short-lived signed URL.
    """
    if not _authenticated(request):
        return JsonResponse(error_body(code="not_authenticated", message="Authentication credentials were not provided."), status=401)
    path = posixpath.normpath(path).lstrip("/")
    if path.startswith("..") or "\x00" in path:
        raise Http404
    if not default_storage.exists(path):
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

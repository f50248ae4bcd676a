"""Content-Security-Policy on every HTML answer: a script injected into a page (through
notes, a file name, a title) would not run, and the pages cannot be framed.

The curators' pages load scripts and styles from /static/ only (no inline script, no
style attribute: page data travels in ``json_script`` blocks, which are not run). Three
kinds of HTML need a looser policy, each only on its own paths:

- the admin: Django's templates carry a few inline styles;
- the API docs (Swagger UI, ReDoc, served offline by drf-spectacular-sidecar): inline
  styles, ``data:`` images, and ReDoc's search in a ``blob:`` worker;
- stored files (``/files/``, a batch report's HTML say): evidence, never a page of this
  site, so no script at all, in a sandbox.

A view that sets its own policy (the batch report routes) keeps it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost

HEADER = "Content-Security-Policy"


def _policy(**directives: str) -> str:
    return "; ".join(f"{name.replace('_', '-')} {value}" for name, value in directives.items())


_COMMON = {"object_src": "'none'", "base_uri": "'self'", "form_action": "'self'", "frame_ancestors": "'none'"}
DOCS = _policy(
    default_src="'self'",
    script_src="'self'",
    style_src="'self' 'unsafe-inline'",
    img_src="'self' data:",
    font_src="'self' data:",
    worker_src="'self' blob:",
    connect_src="'self'",
    **_COMMON,
)
ADMIN = _policy(default_src="'self'", script_src="'self'", style_src="'self' 'unsafe-inline'", img_src="'self' data:", **_COMMON)
STORED_FILE = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"


def _storage_origin() -> str:
    """Where /files/ redirects on S3 (signed URLs), for images and videos of the pages."""
    if not settings.S3_BUCKET:
        return ""
    endpoint = settings.STORAGES["default"].get("OPTIONS", {}).get("endpoint_url")
    if endpoint:
        parts = urlsplit(endpoint)
        return f" {parts.scheme}://{parts.netloc}"
    return " https://*.amazonaws.com"


def page_policy(request) -> str:
    storage = _storage_origin()
    try:
        host = request.get_host()
        sockets = f" ws://{host} wss://{host}"  # what 'self' means for websockets, spelled out for older browsers
    except DisallowedHost:
        sockets = ""
    return _policy(
        default_src="'self'",
        script_src="'self'",
        style_src="'self'",
        img_src=f"'self' data: blob:{storage}",
        media_src=f"'self' blob:{storage}",
        font_src="'self'",
        connect_src=f"'self'{sockets}",
        **_COMMON,
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if HEADER in response:
            return response
        path = request.path_info
        if path.startswith("/files/"):
            # Whatever its type: an image format that can carry script (SVG) included.
            response[HEADER] = STORED_FILE
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        if path.startswith(("/api/v1/docs/", "/api/v1/redoc/")):
            policy = DOCS
        elif path.startswith("/admin/"):
            policy = ADMIN
        else:
            policy = page_policy(request)
        response[HEADER] = policy
        return response

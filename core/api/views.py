"""Views shared by the whole API: the envelope 404 for unknown API paths, and the
answer of route groups whose issue has not landed yet."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .exceptions import error_body


@csrf_exempt  # it changes nothing; a write to an unknown path is a 404, not an HTML CSRF 403
def api_not_found(request, *args, **kwargs):
    """Unknown path under /api/v1/: the error envelope, never Django's HTML 404 page."""
    return JsonResponse(error_body(code="not_found", message=f"No API route matches {request.path!r}."), status=404)


def not_implemented(group: str):
    def view(request, *args, **kwargs):
        return JsonResponse(
            error_body(code="not_implemented", message=f"The {group} API is not available in this version yet."),
            status=501,
        )

    return view

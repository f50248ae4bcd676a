"""The one renderer: every JSON response is ``{"status": "ok", "res": ...}`` or
``{"status": "error", "error": ...}`` depending on the HTTP status."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer


class EnvelopeJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if isinstance(data, dict) and data.get("status") in ("ok", "error") and ("res" in data or "error" in data):
            body = data  # already enveloped (the exception handler does this)
        elif response is not None and response.status_code >= 400:
            body = {"status": "error", "error": data}
        else:
            body = {"status": "ok", "res": data}
        return super().render(body, accepted_media_type, renderer_context)

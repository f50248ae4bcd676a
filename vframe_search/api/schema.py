"""OpenAPI post-processing: describe responses as they are sent, in the envelope.

Views return bare data and the renderer wraps it, so drf-spectacular sees the bare
shape; this hook wraps every JSON success schema in ``{"status": "ok", "res": ...}``
and gives every operation the error envelope for its error codes, so the schema
matches the wire (schemathesis and client generators rely on that).
"""

from __future__ import annotations

from drf_spectacular import openapi

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["status", "error"],
    "properties": {
        "status": {"type": "string", "enum": ["error"]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
            },
        },
    },
}


def _wrap_ok(schema: dict) -> dict:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    if "status" in props and ("res" in props or "error" in props):
        return schema  # already described as an envelope
    return {"type": "object", "required": ["status", "res"], "properties": {"status": {"type": "string", "enum": ["ok"]}, "res": schema}}


def envelope_postprocessing_hook(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorEnvelope", ERROR_ENVELOPE)
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, methods in result.get("paths", {}).items():
        if not path.startswith("/api/v1/") or path.startswith(("/api/v1/schema", "/api/v1/docs", "/api/v1/redoc")):
            continue
        for operation in methods.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, response in operation["responses"].items():
                content = response.get("content", {})
                json_body = content.get("application/json")
                if json_body is None:
                    continue
                if str(code).startswith("2") and "schema" in json_body:
                    json_body["schema"] = _wrap_ok(json_body["schema"])
            for code, text in (("401", "Not authenticated"), ("400", "Invalid input")):
                operation["responses"].setdefault(code, {"description": text, "content": {"application/json": {"schema": ref}}})
    return result


_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, also documenting the error answers that come from
    the view's configuration rather than its code, so no view has to list them:

    - 403 where a permission class can refuse an authenticated user (staff-only or
      owner-only routes) and on every write (CSRF applies to session writes);
    - 404 on every route with a path parameter (no such row, or a value the route's
      converter refuses);
    - 429 where the view is rate-limited.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or not path.startswith("/api/v1/"):
            return operation
        from .permissions import StaffPermission

        responses = operation.setdefault("responses", {})
        view = self.view
        restricted = any(isinstance(p, StaffPermission) for p in view.get_permissions())
        if restricted or method.upper() in _UNSAFE:
            text = "Not allowed for this user" if restricted else "Not allowed"
            if method.upper() in _UNSAFE:
                text += ", or a session write without the CSRF token"
            responses.setdefault("403", {"description": text + ".", "content": _ERROR_REF})
        if "{" in path:
            responses.setdefault("404", {"description": "No such record, or a path value the route does not accept.", "content": _ERROR_REF})
        if view.get_throttles():
            responses.setdefault(
                "429",
                {
                    "description": "Too many requests from this user; Retry-After says when to try again.",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
                    "content": _ERROR_REF,
                },
            )
        return operation

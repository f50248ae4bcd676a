"""OpenAPI schema of the envelope: describe responses as they are sent.

Views return bare data and the renderer wraps it, so drf-spectacular sees the bare
shape; the post-processing hook wraps every JSON success schema in
``{"status": "ok", "res": ...}``. Errors have one schema, ``ErrorEnvelope``: views
list theirs with ``error_responses()``, and AutoSchema adds those that every route
of a kind answers, so the schema matches the wire (schemathesis and client
generators rely on that).
"""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_array_type
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .pagination import OffsetLimitPagination


class _ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    # Per-field messages: lists of strings, or objects of them for nested input
    # (a task's params, a list's items), as the exception handler passes them on.
    fields = serializers.DictField(required=False)


class ErrorEnvelopeSerializer(serializers.Serializer):
    """Schema-only: the error envelope every failing request answers with."""

    status = serializers.ChoiceField(choices=["error"])
    error = _ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    """One error answer, in the envelope, for ``@extend_schema(responses=...)``."""
    return OpenApiResponse(ErrorEnvelopeSerializer, description=description)


def error_responses(descriptions: Mapping[int, str], *codes: int) -> dict[int, OpenApiResponse]:
    """401 (every route needs a login) and ``codes``, each described from ``descriptions``."""
    described = {401: "Not authenticated.", **descriptions}
    return {code: error_response(described[code]) for code in (401, *codes)}


class PageFieldExtension(OpenApiSerializerFieldExtension):
    """A page nested in another answer gets the paginator's page schema, under the
    name drf-spectacular gives a list view's page (``Paginated<Item>List``)."""

    target_class = "core.api.pagination.PageField"

    def map_serializer_field(self, auto_schema, direction):
        child = self.target.child()
        items = auto_schema.resolve_serializer(child, direction)
        component = ResolvedComponent(
            name=auto_schema.get_paginated_name(items.name),
            type=ResolvedComponent.SCHEMA,
            schema=OffsetLimitPagination().get_paginated_response_schema(build_array_type(items.ref)),
            object=auto_schema.get_serializer_identity(child, direction),
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def _wrap_ok(schema: dict) -> dict:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    if "status" in props and ("res" in props or "error" in props):
        return schema  # already described as an envelope
    return {"type": "object", "required": ["status", "res"], "properties": {"status": {"type": "string", "enum": ["ok"]}, "res": schema}}


def envelope_postprocessing_hook(result, generator, request, public):
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
    return result


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
        error = {"application/json": {"schema": self.resolve_serializer(ErrorEnvelopeSerializer(), "response").ref}}
        view = self.view
        restricted = any(isinstance(p, StaffPermission) for p in view.get_permissions())
        if restricted or method.upper() in _UNSAFE:
            text = "Not allowed for this user" if restricted else "Not allowed"
            if method.upper() in _UNSAFE:
                text += ", or a session write without the CSRF token"
            responses.setdefault("403", {"description": text + ".", "content": error})
        if "{" in path:
            responses.setdefault("404", {"description": "No such record, or a path value the route does not accept.", "content": error})
        if view.get_throttles():
            responses.setdefault(
                "429",
                {
                    "description": "Too many requests from this user; Retry-After says when to try again.",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
                    "content": error,
                },
            )
        for code, text in (("401", "Not authenticated"), ("400", "Invalid input")):
            responses.setdefault(code, {"description": text, "content": error})
        return operation

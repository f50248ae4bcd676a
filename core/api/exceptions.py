"""The one exception handler: DRF errors, Django errors and DomainErrors all become the
error envelope with the right HTTP status and, for validation, per-field messages."""

from __future__ import annotations

import errno
import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError

logger = logging.getLogger(__name__)

_DRF_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


_STORAGE_FULL = (errno.ENOSPC, errno.EDQUOT)


def error_body(*, code: str, message: str, fields: dict | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"status": "error", "error": error}


def _flatten_message(detail) -> str:
    if isinstance(detail, list):
        return "; ".join(_flatten_message(d) for d in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten_message(v)}" for k, v in detail.items())
    return str(detail)


def envelope_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(code=exc.code, message=exc.message, fields=exc.fields), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body(code="too_large", message="Request body is too large."), status=413)
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        # Django's own bound on form fields/files, met while DRF parses the body.
        return Response(error_body(code="too_many_fields", message="Request has too many form fields or files."), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        if isinstance(exc, OSError) and exc.errno in _STORAGE_FULL:
            # The request was fine; the server has nowhere to put it. The writers
            # remove what they had begun, so the client can simply retry later.
            logger.error("storage full: %s", exc)
            return Response(
                error_body(
                    code="insufficient_storage",
                    message="The server's storage is full (no space left on device); nothing was stored. Try again once space is freed.",
                ),
                status=status.HTTP_507_INSUFFICIENT_STORAGE,
            )
        if isinstance(exc, DatabaseError):
            # Database down or unreachable: a clean 503, never a stack trace.
            logger.exception("database error")
            return Response(
                error_body(code="database_unavailable", message="The database is unavailable; try again shortly."), status=status.HTTP_503_SERVICE_UNAVAILABLE
            )
        return None  # a real bug: let Django log it and answer 500

    code = _DRF_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            non_field = detail.pop("non_field_errors", None)
            message = _flatten_message(non_field) if non_field else "Invalid input."
            response.data = error_body(code="invalid", message=message, fields=detail or None)
        else:
            response.data = error_body(code="invalid", message=_flatten_message(detail))
    else:
        detail = getattr(exc, "detail", None)
        if isinstance(exc, exceptions.APIException) and hasattr(exc, "get_codes"):
            codes = exc.get_codes()
            if isinstance(codes, str) and response.status_code not in (400,):
                code = _DRF_CODES.get(response.status_code, codes)
        response.data = error_body(code=code, message=_flatten_message(detail) if detail is not None else str(exc))
    return response

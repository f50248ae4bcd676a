"""Domain errors: services raise these, the one exception handler maps them.

Each carries a machine-readable ``code`` and an HTTP ``status`` (Baserow's pattern), so
a service can say "this feature is still building" without knowing about HTTP.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class of every error a service raises on purpose."""

    status: int = 400
    code: str = "invalid"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, fields: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields = fields or {}


class InvalidInput(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class ServiceUnavailable(DomainError):
    status = 503
    code = "unavailable"


class PermissionDeniedError(DomainError):
    status = 403
    code = "permission_denied"

"""Who may do what: the permission classes every API view takes its rules from.

Two kinds of accounts. Curators (authenticated, not staff) search, upload, curate
collections and run the test task; staff also change what every user gets (features,
the default feature, the detection model), delete media and run the heavy tasks. The
table in docs/access-matrix.md is checked against tests/test_permissions.py.

Every class here also requires authentication, so an anonymous request is still a 401
(DRF answers 401 rather than 403 when no credentials came), never a 403.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission


def _authenticated(request) -> bool:
    return bool(request.user and request.user.is_authenticated)


class StaffPermission(BasePermission):
    """Base of the classes that can refuse an authenticated user (the schema documents
    a 403 for every view that uses one)."""

    message = "Only staff may do this."
    view_message = "staff_only_message"

    def _deny(self, view) -> bool:
        # The view may say why in its own words (what the action changes for everyone).
        self.message = getattr(view, self.view_message, type(self).message)
        return False


class IsStaff(StaffPermission):
    """Staff only: actions that change what every user gets."""

    def has_permission(self, request, view) -> bool:
        if not _authenticated(request):
            return False
        return bool(request.user.is_staff) or self._deny(view)


class IsStaffOrReadOnly(StaffPermission):
    """Everyone authenticated may read; only staff may write."""

    def has_permission(self, request, view) -> bool:
        if not _authenticated(request):
            return False
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user.is_staff) or self._deny(view)


class IsOwnerOrStaff(StaffPermission):
    """Its creator (the row's ``user``) or staff. Views that fetch the row themselves
    call ``self.check_object_permissions(request, obj)`` before acting on it."""

    message = "Only its creator or staff may do this."
    view_message = "owner_or_staff_message"

    def has_permission(self, request, view) -> bool:
        return _authenticated(request)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.user.is_staff:
            return True
        owner_id = getattr(obj, "user_id", None)
        return (owner_id is not None and owner_id == request.user.pk) or self._deny(view)

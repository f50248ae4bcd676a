"""Ids that clients send: one bound, one serializer field and one path check for all of them.

Primary keys are 64-bit integers. Every id from a request is checked against
:data:`MAX_ID` before any query, so a number no key can hold never reaches the database
(written as a foreign key it is an error there) and the answer is the same on every
backend: in a body or query string a 400 naming the field (:class:`IdField`), in a URL
path a 404 (:func:`id_or_404`).
"""

from __future__ import annotations

from rest_framework import serializers

from core.errors import NotFound

# Far beyond any id a table reaches, and inside every backend's 64-bit integer.
MAX_ID = 2**62


def id_in_range(value: int) -> bool:
    """Whether ``value`` is a number some row could have as its id."""
    return 1 <= value <= MAX_ID


def id_or_404(value: int) -> int:
    """``value`` from a URL path, or NotFound when no row can have it as its id."""
    if not id_in_range(value):
        raise NotFound("Not found.")
    return value


class IdField(serializers.IntegerField):
    """An id in a body or query string: an integer from 1 to :data:`MAX_ID`. A JSON
    boolean is refused (IntegerField would take ``true`` as 1; an id is never one)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)

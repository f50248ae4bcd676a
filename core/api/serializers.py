"""Serializer helpers every app shares."""

from __future__ import annotations

import copy
from typing import Any

from rest_framework.serializers import BaseSerializer


class FieldsOnceMixin:
    """A ModelSerializer that introspects its model once per class, not per instance.

    DRF builds a ModelSerializer's fields from the model's field definitions every time
    a serializer is created: for a search answer (a media serializer for the hits, one
    for the query) that introspection cost more than serializing the page. The fields
    do not depend on the instance or the request here, so they are built once and each
    serializer gets its own copies. A plain field's copy is shallow: what a serializer
    sets on its fields (name, parent, source) is set by ``bind()`` on the copy, and the
    rest is read-only; a nested serializer is copied deeply, since its child and fields
    must be its own.
    """

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            cls._fields_built_once = built  # a race builds the same fields twice
        return {name: copy.deepcopy(field) if isinstance(field, BaseSerializer) else copy.copy(field) for name, field in built.items()}

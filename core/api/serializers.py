"""Serializer helpers every app shares."""

from __future__ import annotations

import copy
from typing import Any


class FieldsOnceMixin:
    """A ModelSerializer that introspects its model once per class, not per instance.

    DRF builds a ModelSerializer's fields from the model's field definitions every time
    a serializer is created: for a search answer (a media serializer for the hits, one
    for the query) that introspection cost more than serializing the page. The fields
    do not depend on the instance or the request here, so they are built once and each
    serializer gets its own copies, as DRF's declared fields do.
    """

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            cls._fields_built_once = built  # a race builds the same fields twice
        return copy.deepcopy(built)

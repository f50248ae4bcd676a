"""core.api.ids: one bound for every id a client sends."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from core.api.ids import MAX_ID, IdField, id_or_404
from core.errors import NotFound


class _Params(serializers.Serializer):
    media = IdField()


@pytest.mark.parametrize("value", [1, "42", MAX_ID])
def test_an_id_in_range_is_accepted(value):
    ser = _Params(data={"media": value})
    assert ser.is_valid(), ser.errors
    assert ser.validated_data["media"] == int(value)


@pytest.mark.parametrize("value", [0, -1, MAX_ID + 1, 2**64, True, False, "abc", 1.5])
def test_an_id_out_of_range_or_not_an_integer_is_a_field_error(value):
    ser = _Params(data={"media": value})
    assert not ser.is_valid()
    assert "media" in ser.errors


def test_an_id_in_a_path_beyond_the_bound_is_a_404():
    assert id_or_404(MAX_ID) == MAX_ID
    with pytest.raises(NotFound):
        id_or_404(MAX_ID + 1)

"""Media serializers build their fields once per class (core.api.serializers.FieldsOnceMixin):
each serializer still gets fields of its own, bound to it, so two requests never share
a context (the file URLs are absolute to each request's host)."""

from __future__ import annotations

import io

from django.test import RequestFactory
from rest_framework.request import Request

from media_app.api.serializers import MediaSerializer, UploadSerializer


def test_each_serializer_has_its_own_fields_bound_to_itself_and_its_request(db, image_bytes, settings):
    settings.ALLOWED_HOSTS = ["one.example", "two.example"]
    from media_app.services import media_create_image

    media, _ = media_create_image(stream=io.BytesIO(image_bytes(64, 48, seed=1)), original_name="a.jpg")
    one = MediaSerializer(media, context={"request": Request(RequestFactory().get("/", HTTP_HOST="one.example"))})
    two = MediaSerializer(media, context={"request": Request(RequestFactory().get("/", HTTP_HOST="two.example"))})
    assert set(one.fields) == set(MediaSerializer.Meta.fields)
    for name in one.fields:
        assert one.fields[name] is not two.fields[name]
        assert one.fields[name].parent is one and two.fields[name].parent is two
    a, b = one.data, two.data
    assert a["file_url"].startswith("http://one.example/") and b["file_url"].startswith("http://two.example/")
    assert {k: v for k, v in a.items() if not k.endswith("_url")} == {k: v for k, v in b.items() if not k.endswith("_url")}
    assert a["created_at"].endswith("Z") and a["sha256"] == media.sha256


def test_fields_are_introspected_once_per_class(db, monkeypatch):
    from rest_framework import serializers

    MediaSerializer().fields, UploadSerializer().fields  # noqa: B018 - built (and kept) here

    def refuse(self, *args, **kwargs):
        raise AssertionError("a model field was introspected again")

    monkeypatch.setattr(serializers.ModelSerializer, "build_field", refuse)
    assert "sha256" in MediaSerializer().fields and "username" in UploadSerializer().fields

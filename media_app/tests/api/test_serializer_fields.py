"""Media serializers build their fields once per class (core.api.serializers.FieldsOnceMixin):
each serializer still gets fields of its own, bound to it, so two requests never share
a context (the file URLs are absolute to each request's host)."""

from __future__ import annotations

import io

from django.test import RequestFactory
from rest_framework import serializers
from rest_framework.request import Request

from media_app.api.serializers import MediaDetailSerializer, MediaSerializer, UploadSerializer
from tests.images import make_image_bytes


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
    MediaSerializer().fields, UploadSerializer().fields  # noqa: B018 - built (and kept) here

    def refuse(self, *args, **kwargs):
        raise AssertionError("a model field was introspected again")

    monkeypatch.setattr(serializers.ModelSerializer, "build_field", refuse)
    assert "sha256" in MediaSerializer().fields and "username" in UploadSerializer().fields


def _drf_rendering(serializer, instance) -> dict:
    """What DRF's own field-by-field rendering gives for ``instance``."""
    return dict(serializers.ModelSerializer.to_representation(serializer, instance))


def test_direct_rendering_equals_drfs_field_by_field_rendering(db, make_image, make_video, settings):
    """The media and upload serializers build their answer directly (search pages render
    many); every key and value must be what their declared fields give, for every kind
    of media, with and without a request, annotated by the selectors or bare."""
    from media_app.models import Media
    from media_app.selectors import media_by_ids
    from media_app.services import upload_create

    settings.ALLOWED_HOSTS = ["one.example"]
    image = make_image(seed=3, name="ä photo.jpg")
    video = make_video(frames=2)
    Media.objects.filter(pk=video.pk).update(playable="media/playable.mp4")
    first, frame = video.frames.order_by("frame_number")  # at 0.0 s and 1.0 s
    ids = [image.pk, video.pk, first.pk, frame.pk]
    bare = [Media.objects.get(pk=pk) for pk in ids]
    annotated = media_by_ids(ids)
    upload, _ = upload_create(stream=io.BytesIO(make_image_bytes(40, 30, seed=9)), original_name="q.png", username="ann")
    for request in (None, Request(RequestFactory().get("/", HTTP_HOST="one.example"))):
        context = {"request": request}
        for media in [*bare, *annotated]:
            ser = MediaSerializer(context=context)
            fast = ser.to_representation(media)
            assert fast == _drf_rendering(ser, media)
            assert list(fast) == list(MediaSerializer.Meta.fields)
        ser = UploadSerializer(context=context)
        assert ser.to_representation(upload) == _drf_rendering(ser, upload)
        assert list(ser.to_representation(upload)) == list(UploadSerializer.Meta.fields)
    detail = MediaDetailSerializer(frame, context={"request": None, "siblings": [first], "siblings_count": 1}).data
    assert detail["siblings_count"] == 1 and detail["siblings"][0]["frame_number"] == 0 and detail["parent_sha256"] == video.sha256

"""Shapes of Media and Upload in the API, and validation of the upload form.

File URLs are absolute and point at the authenticated /files/ view (or, on S3, at a
short-lived signed URL): the storage decides, the serializer only asks it.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import FieldsOnceMixin

from ..models import Media, MediaType, Upload


def file_url(request, name: str) -> str | None:
    """Absolute URL of a stored file, or None when there is no file."""
    if not name:
        return None
    url = default_storage.url(name)
    return request.build_absolute_uri(url) if request is not None else url


# Renders datetimes as every DateTimeField of the API does (DATETIME_FORMAT, the
# current time zone); to_representation reads no state a serializer binds.
_DATETIME = serializers.DateTimeField()


def _number(value, kind):
    return None if value is None else kind(value)


class _FileUrlsMixin(serializers.Serializer):
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_file_url(self, obj) -> str | None:
        return file_url(self.context.get("request"), obj.file.name)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, obj) -> str | None:
        return file_url(self.context.get("request"), obj.thumbnail.name)


class MediaCompactSerializer(FieldsOnceMixin, serializers.ModelSerializer):
    """A sibling frame: enough to draw a filmstrip and link to the frame."""

    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Media
        fields = ["id", "sha256", "media_type", "thumbnail_url", "frame_number", "timestamp"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, obj: Media) -> str | None:
        return file_url(self.context.get("request"), obj.thumbnail.name)


class MediaSerializer(FieldsOnceMixin, _FileUrlsMixin, serializers.ModelSerializer):
    """One media. Every key is always present; the frame keys (parent, parent_sha256,
    frame_number, timestamp) are null except on frames, the video keys (duration,
    frame_count, playable_url) null except on videos, so scripts can rely on one shape."""

    parent_sha256 = serializers.SerializerMethodField()
    frame_count = serializers.SerializerMethodField()
    playable_url = serializers.SerializerMethodField()

    class Meta:
        model = Media
        fields = [
            "id",
            "sha256",
            "media_type",
            "file_url",
            "thumbnail_url",
            "playable_url",
            "width",
            "height",
            "format",
            "byte_size",
            "original_name",
            "source_path",
            "created_at",
            "parent",
            "parent_sha256",
            "frame_number",
            "timestamp",
            "duration",
            "frame_count",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_parent_sha256(self, obj: Media) -> str | None:
        if not obj.parent_id:
            return None
        # Selectors annotate it; a bare instance costs one query.
        annotated = getattr(obj, "parent_sha256", None)
        return annotated if annotated is not None else obj.parent.sha256

    @extend_schema_field(
        serializers.URLField(
            allow_null=True, help_text="Videos: what a browser plays, the H.264/AAC copy made at ingest when the original is not playable, else the original."
        )
    )
    def get_playable_url(self, obj: Media) -> str | None:
        if obj.media_type != MediaType.VIDEO:
            return None
        return file_url(self.context.get("request"), obj.playable.name or obj.file.name)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_frame_count(self, obj: Media) -> int | None:
        if obj.media_type != MediaType.VIDEO:
            return None
        annotated = getattr(obj, "frame_count", None)
        return annotated if annotated is not None else obj.frames.count()

    def to_representation(self, instance: Media) -> dict[str, Any]:
        """What DRF's field-by-field rendering gives (a test holds them equal), built
        directly: a search answer renders eleven media, and DRF's per-field calls cost
        more than the rest of the answer's rendering together."""
        obj, request = instance, self.context.get("request")
        return {
            "id": obj.pk,
            "sha256": obj.sha256,
            "media_type": str(obj.media_type),
            "file_url": file_url(request, obj.file.name),
            "thumbnail_url": file_url(request, obj.thumbnail.name),
            "playable_url": self.get_playable_url(obj),
            "width": int(obj.width),
            "height": int(obj.height),
            "format": obj.format,
            "byte_size": int(obj.byte_size),
            "original_name": obj.original_name,
            "source_path": obj.source_path,
            "created_at": _DATETIME.to_representation(obj.created_at),
            "parent": obj.parent_id,
            "parent_sha256": self.get_parent_sha256(obj),
            "frame_number": _number(obj.frame_number, int),
            "timestamp": _number(obj.timestamp, float),
            "duration": _number(obj.duration, float),
            "frame_count": self.get_frame_count(obj),
        }


class MediaDetailSerializer(MediaSerializer):
    """One media with the other frames of its video (``siblings`` in the context, at most
    ``VFRAME_MAX_SIBLINGS`` of them, the nearest to this frame; ``siblings_count`` in the
    context: how many there are in all)."""

    siblings = serializers.SerializerMethodField()
    siblings_count = serializers.SerializerMethodField()

    class Meta(MediaSerializer.Meta):
        fields = [*MediaSerializer.Meta.fields, "siblings", "siblings_count"]
        read_only_fields = fields

    @extend_schema_field(MediaCompactSerializer(many=True))
    def get_siblings(self, obj: Media) -> list[dict]:
        siblings = self.context.get("siblings", [])
        return MediaCompactSerializer(siblings, many=True, context=self.context).data

    @extend_schema_field(serializers.IntegerField(help_text="The other frames of the video in all; siblings lists at most VFRAME_MAX_SIBLINGS of them."))
    def get_siblings_count(self, obj: Media) -> int:
        return int(self.context.get("siblings_count", len(self.context.get("siblings", []))))

    def to_representation(self, instance: Media) -> dict[str, Any]:
        return {**super().to_representation(instance), "siblings": self.get_siblings(instance), "siblings_count": self.get_siblings_count(instance)}


class UploadSerializer(FieldsOnceMixin, _FileUrlsMixin, serializers.ModelSerializer):
    """A query image someone uploaded."""

    class Meta:
        model = Upload
        fields = [
            "id",
            "sha256",
            "file_url",
            "thumbnail_url",
            "width",
            "height",
            "format",
            "byte_size",
            "original_name",
            "username",
            "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Upload) -> dict[str, Any]:
        """DRF's field-by-field rendering, built directly (as MediaSerializer's)."""
        obj, request = instance, self.context.get("request")
        return {
            "id": obj.pk,
            "sha256": obj.sha256,
            "file_url": file_url(request, obj.file.name),
            "thumbnail_url": file_url(request, obj.thumbnail.name),
            "width": int(obj.width),
            "height": int(obj.height),
            "format": obj.format,
            "byte_size": int(obj.byte_size),
            "original_name": obj.original_name,
            "username": obj.username,
            "created_at": _DATETIME.to_representation(obj.created_at),
        }


class UploadCreateSerializer(serializers.Serializer):
    """The multipart upload form. Whether the bytes are an image is decided by decoding
    them in the service, never here by name or content type."""

    image = serializers.FileField(allow_empty_file=False, help_text="The image file (JPEG, PNG, WebP, GIF, BMP, TIFF).")
    username = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=150,
        help_text="Defaults to the authenticated user; only staff may upload on behalf of someone else.",
    )

    def validate_username(self, value: str) -> str:
        user = self.context["request"].user
        if value and value != user.username and not user.is_staff:
            raise serializers.ValidationError("Only staff may upload on behalf of another user.")
        return value


class DeletedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deleted = serializers.BooleanField()


class MediaInfoCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    image = serializers.IntegerField()
    video = serializers.IntegerField()
    video_frame = serializers.IntegerField()


class MediaInfoSerializer(serializers.Serializer):
    media = MediaInfoCountsSerializer()
    uploads = serializers.IntegerField()
    collections = serializers.IntegerField()
    features = serializers.IntegerField()
    bytes_stored = serializers.IntegerField(help_text="Sum of the byte sizes of all media and uploads (originals).")
    disk_free = serializers.IntegerField(allow_null=True, help_text="Free bytes on the volume holding the data directory.")
    disk_total = serializers.IntegerField(allow_null=True, help_text="Size in bytes of the volume holding the data directory.")

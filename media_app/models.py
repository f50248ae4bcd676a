"""Media (images, videos, video frames) and Uploads (query images)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class MediaType(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    VIDEO_FRAME = "video_frame", "Video frame"


class Media(models.Model):
    """One item of the collection: an image, a video, or a keyframe of a video.

    Identity is the sha256 of the stored bytes (for frames: of the encoded frame), so
    the same file imported twice, under any name, is one row.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    media_type = models.CharField(max_length=16, choices=MediaType.choices, db_index=True)
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True)
    # A video browsers cannot play as it is gets an H.264/AAC MP4 copy for the pages;
    # ``file`` stays the original, byte for byte, the evidence.
    playable = models.FileField(max_length=255, blank=True, help_text="A copy of a video that browsers play, when the original is not one")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=16, blank=True, help_text="Decoded format, e.g. JPEG, PNG, mp4")
    byte_size = models.BigIntegerField(default=0)
    original_name = models.CharField(max_length=255, blank=True)
    source_path = models.TextField(blank=True, help_text="Where the file was imported from")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="frames", limit_choices_to={"media_type": MediaType.VIDEO})
    frame_number = models.PositiveIntegerField(null=True, blank=True)
    timestamp = models.FloatField(null=True, blank=True, help_text="Seconds from the start of the parent video")
    duration = models.FloatField(null=True, blank=True, help_text="Length of a video in seconds")
    # The whole picture's 63-bit perceptual hash (modelzoo.phash.picture_hash), which the
    # default search compares with the query's to find copies whose vectors drifted; null
    # for a video, a plain picture, or a picture stored before hashes were kept (filled
    # by ``manage.py media_hashes``).
    phash = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "media"
        indexes = [models.Index(fields=["parent", "frame_number"])]
        constraints = [
            models.UniqueConstraint(fields=["parent", "frame_number"], name="media_unique_frame_per_video"),
            models.CheckConstraint(
                condition=(models.Q(media_type="video_frame", parent__isnull=False) | (~models.Q(media_type="video_frame") & models.Q(parent__isnull=True))),
                name="media_frame_has_parent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.media_type} {self.pk} {self.original_name or self.sha256[:12]}"


class Upload(models.Model):
    """A query image someone uploaded to search with; not part of the collection."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=16, blank=True)
    byte_size = models.BigIntegerField(default=0)
    original_name = models.CharField(max_length=255, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="uploads")
    username = models.CharField(max_length=150, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"upload {self.pk} {self.original_name or self.sha256[:12]}"

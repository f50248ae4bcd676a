"""Features: one embedding model + one index over the media, built by Celery."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IndexType(models.TextChoices):
    HNSW = "hnsw", "HNSW (approximate, hnswlib)"
    FLAT = "flat", "Flat (exact, brute force)"
    MILVUS = "milvus", "Milvus (VFRAME_MILVUS_URI: a cluster, or milvus-lite in the data dir)"


class FeatureStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def default_index_params() -> dict:
    return {"M": 16, "ef_construction": 200, "ef": 128}


class Feature(models.Model):
    """An embedding model from the model zoo and the index of vectors it produced.

    ``index_version`` increases every time a new index file is renamed into place, so
    every server process can tell that its loaded copy is stale and swap in the new one.
    """

    active = models.BooleanField(default=True, db_index=True)
    modelzoo_name = models.CharField(max_length=100)
    index_type = models.CharField(max_length=16, choices=IndexType.choices, default=IndexType.HNSW)
    index_params = models.JSONField(default=default_index_params, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=16, choices=FeatureStatus.choices, default=FeatureStatus.PENDING, db_index=True)
    item_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    index_version = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0, help_text="Media whose file could not be decoded in the last build")
    # Build claim (see search_app.indexing.build.feature_update_index): the builder holding
    # ``build_token`` beats ``heartbeat_at``; a claim whose heartbeat is stale may be taken
    # over. ``build_requested`` asks the running build to go round once more.
    build_token = models.CharField(max_length=32, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    build_requested = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    built_at = models.DateTimeField(null=True, blank=True)
    # Index type milvus: the collection that serves ``index_version`` and the version that
    # last wrote it (set with ``index_version`` in one UPDATE; blank for index files).
    milvus_collection = models.CharField(max_length=255, blank=True, editable=False)
    milvus_version = models.PositiveIntegerField(default=0, editable=False)

    def __str__(self) -> str:
        return f"feature {self.pk} {self.modelzoo_name}/{self.index_type}"

    @property
    def has_index(self) -> bool:
        """A built index version exists and can be searched, whatever the status says
        (an incremental build or a failed rebuild leaves the previous version usable)."""
        return self.index_version > 0


class SearchDefaults(models.Model):
    """The search choices every process shares (one row, pk=1): the feature searched
    when a request names none, and the detection model run on query images."""

    default_feature = models.ForeignKey(Feature, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detection_model = models.CharField(max_length=100, blank=True)
    updated_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "search defaults"

    def __str__(self) -> str:
        return f"default feature {self.default_feature_id}, detector {self.detection_model or '-'}"


class QueryVector(models.Model):
    """An upload's embedding under one model, kept so a repeated query costs only the
    index lookup (the vector depends on the model, not on the index)."""

    upload = models.ForeignKey("media_app.Upload", on_delete=models.CASCADE, related_name="query_vectors")
    modelzoo_name = models.CharField(max_length=100)
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "modelzoo_name"], name="query_vector_unique_per_model")]

    def __str__(self) -> str:
        return f"upload {self.upload_id} under {self.modelzoo_name}"


class RegionVector(models.Model):
    """The embedding of a region (a normalised box) of a query image under one model,
    kept like :class:`QueryVector` so repeating or paging a region search costs only the
    index lookup. Keyed by the image's sha256, so it serves a media and an upload of the
    same bytes alike."""

    sha256 = models.CharField(max_length=64)
    modelzoo_name = models.CharField(max_length=100)
    box = models.CharField(max_length=64, help_text="x1,y1,x2,y2 normalised, 4 decimals")
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sha256", "modelzoo_name", "box"], name="region_vector_unique")]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} [{self.box}] under {self.modelzoo_name}"


class SearchRecord(models.Model):
    """One search as it was answered: who asked, with what (media, upload, region), on
    which feature, model weights and index version, with which parameters, and the page
    of results with their scores. Append-only: no service or route changes or deletes a
    record, so a collection export can show how each item was found and a reviewer can
    rerun the search. Plain ids and hashes rather than foreign keys, so deleting a media,
    an upload or a feature never rewrites the record of a search that used it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    route = models.CharField(max_length=16, help_text="media, sha256, upload, random or batch")
    query_type = models.CharField(max_length=16, help_text="media or upload")
    query_media_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    query_upload_id = models.BigIntegerField(null=True, blank=True)
    query_sha256 = models.CharField(max_length=64, blank=True)
    seed = models.CharField(max_length=255, blank=True)
    box = models.JSONField(null=True, blank=True, help_text="[x1, y1, x2, y2] normalised, when a region was searched")
    feature_id = models.BigIntegerField()
    modelzoo_name = models.CharField(max_length=100)
    weights_checksum = models.CharField(max_length=100, help_text="sha256 of the weights file, or random:<seed> for a fixed-seed model")
    index_type = models.CharField(max_length=16, blank=True)
    index_version = models.PositiveIntegerField()
    params = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=list, blank=True, help_text="[{rank, media_id, sha256, score}] of the returned page")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"search {self.pk} by {self.username or '-'} ({self.route})"


class DetectionFeature(models.Model):
    """A detection model from the model zoo whose boxes are stored for the media, so
    they can be searched by label. With ``at_ingest`` it runs on every image and video
    keyframe an ingest imports; ``manage.py build_index NAME`` runs it on the rest."""

    modelzoo_name = models.CharField(max_length=100, unique=True)
    at_ingest = models.BooleanField(default=True, help_text="Run on every image and video keyframe an ingest imports")
    min_score = models.FloatField(default=0.0, help_text="Boxes scored lower are not stored (the model's own confidence threshold applies first)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"detections of {self.modelzoo_name}"


class Detection(models.Model):
    """One box a detection feature found on a media (an image or a video keyframe):
    label, score, and the box normalised to 0..1 on the upright image."""

    feature = models.ForeignKey(DetectionFeature, on_delete=models.CASCADE, related_name="detections")
    media = models.ForeignKey("media_app.Media", on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=200)
    label_id = models.IntegerField()
    score = models.FloatField()
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["label", "score"]), models.Index(fields=["media", "feature"])]

    def __str__(self) -> str:
        return f"{self.label} {self.score:.2f} on media {self.media_id}"


class DetectionRun(models.Model):
    """That a detection feature has looked at a media, with how many boxes it kept: a
    media with no boxes is not run again, and a repeated ingest changes nothing."""

    feature = models.ForeignKey(DetectionFeature, on_delete=models.CASCADE, related_name="runs")
    media = models.ForeignKey("media_app.Media", on_delete=models.CASCADE, related_name="+")
    count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["feature", "media"], name="detection_run_unique")]

    def __str__(self) -> str:
        return f"{self.feature.modelzoo_name} on media {self.media_id}: {self.count}"

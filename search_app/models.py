"""Features: one embedding model + one index over the media, built by Celery."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IndexType(models.TextChoices):
    HNSW = "hnsw", "HNSW (approximate, hnswlib)"
    FLAT = "flat", "Flat (exact, brute force)"


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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    built_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"feature {self.pk} {self.modelzoo_name}/{self.index_type}"

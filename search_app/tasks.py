"""Celery tasks of the search app: take ids, re-fetch, call a service."""

from __future__ import annotations

from celery import shared_task

from tasks_app.progress import CeleryTaskReporter

from .models import Feature
from .services import feature_update_index


@shared_task(bind=True, acks_late=True)
def build_index(self, feature_id: int, full: bool = False) -> dict:
    """Embed the media feature ``feature_id`` lacks and write a new index version.

    Idempotent: a second run finds nothing new and leaves the index as it is; a run
    after a crash reuses every vector already stored. Progress (current, total,
    message) goes through the task's reporter.
    """
    feature = Feature.objects.filter(pk=feature_id).first()
    if feature is None:
        return {"feature_id": feature_id, "status": "missing"}
    return feature_update_index(feature=feature, reporter=CeleryTaskReporter(self), full=full)

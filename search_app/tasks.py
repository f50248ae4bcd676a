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


@shared_task(bind=True)
def batch_search(
    self, queries: list | None = None, path: str = "", k: int = 5, min_score: float | None = None, feature: int | None = None, skipped: list | None = None
) -> dict:
    """Batch reverse search: search each query image, log each search, write the match
    report (HTML, CSV, ZIP); progress is reported per query. The user the report and
    search records belong to is the one who started the run (its TaskRun row), never a
    parameter a caller could set."""
    from tasks_app.models import TaskRun

    from .batch import batch_search_run

    task_id = getattr(self.request, "id", None) or ""
    run = TaskRun.objects.filter(task_id=task_id).select_related("user").first() if task_id else None
    return batch_search_run(
        task_id=task_id or "adhoc",
        user=run.user if run else None,
        queries=queries,
        path=path,
        k=k,
        min_score=min_score,
        feature_id=feature,
        skipped=skipped,
        reporter=CeleryTaskReporter(self),
    )


@shared_task(bind=True, acks_late=True)
def find_duplicates(self, feature_id: int, threshold: float = 0.9, k: int = 10) -> dict:
    """Near-duplicate groups of feature ``feature_id``'s current index, stored as its
    latest run. Idempotent: a rerun over the same index writes the same run."""
    from .duplicates import feature_duplicate_groups

    feature = Feature.objects.filter(pk=feature_id).first()
    if feature is None:
        return {"feature_id": feature_id, "status": "missing"}
    return feature_duplicate_groups(feature=feature, threshold=threshold, k=k, reporter=CeleryTaskReporter(self))

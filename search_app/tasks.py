"""Celery tasks of the search app (take ids, re-fetch, call a service), their parameters,
and their entries in the task registry."""

from __future__ import annotations

from celery import shared_task
from rest_framework import serializers

from core.api.ids import IdField
from core.errors import NotFound
from media_app.tasks import IngestFolderParams
from search_app.analysis import batch, duplicates
from search_app.indexing.build import feature_update_index
from search_app.models import Feature
from search_app.selectors import feature_get
from tasks_app.hooks import task_runs_pruned
from tasks_app.progress import CeleryTaskReporter
from tasks_app.registry import TaskSpec, task_register

# --- Parameters ------------------------------------------------------------------------------------


class FeatureIdField(IdField):
    """The id of an existing feature; an unknown one is a validation error naming it."""

    def to_internal_value(self, data) -> int:
        value = super().to_internal_value(data)
        try:
            feature_get(feature_id=value)
        except NotFound as exc:
            raise serializers.ValidationError(exc.message) from None
        return value


class BuildIndexParams(serializers.Serializer):
    feature_id = FeatureIdField(help_text="Id of the feature whose index to build or update.")
    full = serializers.BooleanField(
        default=False, help_text="Rebuild the index from every stored vector, and try again the files whose decode failed before (skipped otherwise)."
    )


class BatchQuerySerializer(serializers.Serializer):
    upload_id = IdField()
    name = serializers.CharField(max_length=1024, allow_blank=True)


class BatchSearchParams(serializers.Serializer):
    """What a caller may set. The list of files refused before the run is not among
    them: only the server's own batch route passes it (``task_start``'s server_params)."""

    queries = BatchQuerySerializer(
        many=True,
        required=False,
        default=(),
        max_length=batch.MAX_QUERIES,
        help_text=f"Stored query uploads ({{upload_id, name}}), at most {batch.MAX_QUERIES}; POST search/batch/ fills this from files or a ZIP.",
    )
    path = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, default="", help_text="Or: a server folder of query images, inside VFRAME_INGEST_ALLOWED_DIRS."
    )
    k = serializers.IntegerField(min_value=1, max_value=100, default=5, help_text="Matches per query image.")
    min_score = serializers.FloatField(
        min_value=-1.0, max_value=1.0, required=False, allow_null=True, default=None, help_text="Only matches with at least this cosine similarity."
    )
    feature = IdField(required=False, allow_null=True, default=None, help_text="Feature to search (default: the default feature).")

    def validate_path(self, value: str) -> str:
        return IngestFolderParams().validate_path(value) if value else ""

    def validate_queries(self, value: list) -> list:
        from media_app.models import Upload

        ids = {q["upload_id"] for q in value}
        known = set(Upload.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if ids - known:
            raise serializers.ValidationError(f"No upload with id(s) {sorted(ids - known)}.")
        return [dict(q) for q in value]

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("queries") and not attrs.get("path"):
            raise serializers.ValidationError("Give query uploads or a server folder (path).")
        return attrs


class FindDuplicatesParams(serializers.Serializer):
    """A near-duplicate run, within the limits search_app.analysis.duplicates sets."""

    feature_id = FeatureIdField(help_text="Id of the feature whose index to search for near-duplicates.")
    threshold = serializers.FloatField(
        min_value=duplicates.MIN_THRESHOLD,
        max_value=duplicates.MAX_THRESHOLD,
        required=False,
        allow_null=True,
        help_text="Cosine similarity at which two items are near-duplicates (default: the feature's model's, measured per model).",
    )
    k = serializers.IntegerField(min_value=1, max_value=duplicates.MAX_K, default=duplicates.DEFAULT_K, help_text="Nearest neighbours looked at per item.")


# --- Tasks -------------------------------------------------------------------------------------------


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
    self,
    queries: list | None = None,
    path: str = "",
    k: int = 5,
    min_score: float | None = None,
    feature: int | None = None,
    skipped: list | None = None,
    skipped_count: int = 0,
) -> dict:
    """Batch reverse search: search each query image, log each search, write the match
    report (HTML, CSV, ZIP); progress is reported per query. The user the report and
    search records belong to is the one who started the run (its TaskRun row), never a
    parameter a caller could set."""
    from search_app.analysis.batch import batch_search_run
    from tasks_app.models import TaskRun

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
        skipped_count=skipped_count,
        reporter=CeleryTaskReporter(self),
    )


@shared_task(bind=True, acks_late=True)
def find_duplicates(self, feature_id: int, threshold: float | None = None, k: int = duplicates.DEFAULT_K) -> dict:
    """Near-duplicate groups of feature ``feature_id``'s current index, stored as its
    latest run. Idempotent: a rerun over the same index writes the same run."""
    feature = Feature.objects.filter(pk=feature_id).first()
    if feature is None:
        return {"feature_id": feature_id, "status": "missing"}
    return duplicates.feature_duplicate_groups(feature=feature, threshold=threshold, k=k, reporter=CeleryTaskReporter(self))


def register_tasks() -> None:
    for spec in (
        TaskSpec(
            name="build_index",
            task_path="search_app.tasks.build_index",
            description="Compute the embeddings of all media for a feature and build or update its index.",
            params=BuildIndexParams,
            staff_only=True,
        ),
        TaskSpec(
            name="batch_search",
            task_path="search_app.tasks.batch_search",
            description="Batch reverse search: search each query image (uploads or an allowed server folder) and write a match report (HTML, CSV, ZIP).",
            params=BatchSearchParams,
            # Each query is a search (uploads were counted when stored); a folder's
            # images are counted when the run reads them.
            costs=lambda params: {"search": len(params.get("queries") or ())},
        ),
        TaskSpec(
            name="find_duplicates",
            task_path="search_app.tasks.find_duplicates",
            description="Near-duplicate groups of a feature from its index's nearest neighbours (browse them at feature/<id>/duplicates/). Only reads the index.",
            params=FindDuplicatesParams,
        ),
    ):
        task_register(spec)
    task_runs_pruned.register(batch.batch_reports_delete)

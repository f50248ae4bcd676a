"""The tasks people may start through the API: name, description, parameters, who may run it.

Each entry names its Celery task by dotted path and imports it only when it runs, so
an app that is still missing its task module does not stop the server. Parameters are
validated with a DRF serializer, which also gives the JSON schema the API lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from rest_framework import serializers

from vframe_search.api.errors import InvalidInput, PermissionDeniedError

# --- Parameter serializers -------------------------------------------------------------------


class BuildIndexParams(serializers.Serializer):
    feature_id = serializers.IntegerField(min_value=1, help_text="Id of the feature whose index to build or update.")
    full = serializers.BooleanField(default=False, help_text="Re-embed every media instead of only those not yet in the index.")

    def validate_feature_id(self, value: int) -> int:
        from search_app.models import Feature

        if not Feature.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"No feature with id {value}.")
        return value


class DownloadModelParams(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Model zoo name of the model to download.")
    force = serializers.BooleanField(default=False, help_text="Download again even if the weights are already there.")

    def validate_name(self, value: str) -> str:
        from modelzoo.registry import MODELS

        if value not in MODELS:
            raise serializers.ValidationError(f"No model called {value!r} in the model zoo; known: {', '.join(sorted(MODELS))}.")
        return value


class IngestFolderParams(serializers.Serializer):
    path = serializers.CharField(max_length=4096, help_text="Server-side folder, inside one of the folders allowed by VFRAME_INGEST_ALLOWED_DIRS.")
    index = serializers.BooleanField(default=True, help_text="Then embed what is new into every active feature's index.")

    def validate_path(self, value: str) -> str:
        allowed = [Path(p).resolve() for p in settings.INGEST_ALLOWED_DIRS]
        if not allowed:
            raise serializers.ValidationError("No server folder is allowed for ingest (set VFRAME_INGEST_ALLOWED_DIRS).")
        # resolve() follows symlinks and '..', so a link cannot lead out of an allowed folder.
        path = Path(value).expanduser().resolve()
        if not any(path == root or path.is_relative_to(root) for root in allowed):
            raise serializers.ValidationError("This folder is not inside a folder allowed for ingest.")
        if not path.is_dir():
            raise serializers.ValidationError("No such folder on the server.")
        return str(path)


class BatchQuerySerializer(serializers.Serializer):
    upload_id = serializers.IntegerField(min_value=1, max_value=2**62)
    name = serializers.CharField(max_length=1024, allow_blank=True)


class BatchSkippedSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=1024, allow_blank=True)
    code = serializers.CharField(max_length=100)
    message = serializers.CharField(max_length=2000, allow_blank=True)


class BatchSearchParams(serializers.Serializer):
    queries = BatchQuerySerializer(
        many=True, required=False, default=(), help_text="Stored query uploads ({upload_id, name}); POST search/batch/ fills this from files or a ZIP."
    )
    path = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, default="", help_text="Or: a server folder of query images, inside VFRAME_INGEST_ALLOWED_DIRS."
    )
    k = serializers.IntegerField(min_value=1, max_value=100, default=5, help_text="Matches per query image.")
    min_score = serializers.FloatField(
        min_value=-1.0, max_value=1.0, required=False, allow_null=True, default=None, help_text="Only matches with at least this cosine similarity."
    )
    feature = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, allow_null=True, default=None, help_text="Feature to search (default: the default feature)."
    )
    skipped = BatchSkippedSerializer(many=True, required=False, default=(), help_text="Files already refused before the run, listed in the report.")

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
        attrs["skipped"] = [dict(s) for s in attrs.get("skipped") or []]
        return attrs


class FindDuplicatesParams(serializers.Serializer):
    feature_id = serializers.IntegerField(min_value=1, max_value=2**62, help_text="Id of the feature whose index to search for near-duplicates.")
    threshold = serializers.FloatField(min_value=-1.0, max_value=1.0, default=0.9, help_text="Cosine similarity at which two items are near-duplicates.")
    k = serializers.IntegerField(min_value=1, max_value=50, default=10, help_text="Nearest neighbours looked at per item.")

    def validate_feature_id(self, value: int) -> int:
        from search_app.models import Feature

        if not Feature.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"No feature with id {value}.")
        return value


class ProgressTestParams(serializers.Serializer):
    steps = serializers.IntegerField(min_value=1, max_value=1000, default=10, help_text="Number of progress reports.")
    interval = serializers.FloatField(min_value=0.0, max_value=60.0, default=1.0, help_text="Seconds between reports.")
    fail_at = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None, help_text="Fail on this step (to try error handling).")

    MAX_SECONDS = 600

    def validate(self, attrs: dict) -> dict:
        # Any user may run it: keep one from tying up a worker for hours.
        if attrs["steps"] * attrs["interval"] > self.MAX_SECONDS:
            raise serializers.ValidationError(f"steps x interval must be at most {self.MAX_SECONDS} seconds.")
        return attrs


# --- Registry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """One task the API may start."""

    name: str
    task_path: str
    description: str
    params: type[serializers.Serializer]
    staff_only: bool = False

    def task(self):
        """The Celery task, imported now (its app may be optional)."""
        return import_string(self.task_path)

    def validate(self, params: Any) -> dict:
        """Validated keyword arguments for the task, or InvalidInput with the reasons."""
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise InvalidInput("params must be a JSON object.", fields={"params": ["Expected a JSON object."]})
        unknown = sorted(set(params) - set(self.params().fields))
        if unknown:
            raise InvalidInput(
                f"Unknown parameter(s) for task {self.name!r}: {', '.join(unknown)}.", fields={"params": {k: ["Unknown parameter."] for k in unknown}}
            )
        serializer = self.params(data=params)
        if not serializer.is_valid():
            raise InvalidInput(f"Invalid parameters for task {self.name!r}.", fields={"params": serializer.errors})
        return dict(serializer.validated_data)

    def allowed_for(self, user) -> bool:
        return bool(user.is_staff) if self.staff_only else bool(user.is_authenticated)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec(
            name="build_index",
            task_path="search_app.tasks.build_index",
            description="Compute the embeddings of all media for a feature and build or update its index.",
            params=BuildIndexParams,
            staff_only=True,
        ),
        TaskSpec(
            name="download_model",
            task_path="modelzoo.tasks.download_model",
            description="Download a model's weights from the model zoo into the models folder.",
            params=DownloadModelParams,
            staff_only=True,
        ),
        TaskSpec(
            name="ingest_folder",
            task_path="tasks_app.tasks.ingest_folder",
            description="Import every image and video of a server-side folder (one allowed in settings) as media, then index what is new.",
            params=IngestFolderParams,
            staff_only=True,
        ),
        TaskSpec(
            name="batch_search",
            task_path="search_app.tasks.batch_search",
            description="Batch reverse search: search each query image (uploads or an allowed server folder) and write a match report (HTML, CSV, ZIP).",
            params=BatchSearchParams,
        ),
        TaskSpec(
            name="find_duplicates",
            task_path="search_app.tasks.find_duplicates",
            description="Near-duplicate groups of a feature from its index's nearest neighbours (browse them at feature/<id>/duplicates/). Only reads the index.",
            params=FindDuplicatesParams,
        ),
        TaskSpec(
            name="test",
            task_path="tasks_app.tasks.progress_demo",
            description="Sleep in steps, reporting progress over the websocket after each, then finish.",
            params=ProgressTestParams,
        ),
    ]
}


def task_spec_get(*, name: Any, user) -> TaskSpec:
    """The spec of ``name`` if ``user`` may run it: 400 for an unknown name, 403 when staff-only."""
    spec = TASKS.get(name) if isinstance(name, str) else None
    if spec is None:
        available = ", ".join(s.name for s in task_specs_for(user=user))
        raise InvalidInput(f"Unknown task {name!r}; available: {available}.", fields={"task_name": [f"Unknown task {name!r}."]})
    if not spec.allowed_for(user):
        raise PermissionDeniedError(f"Only staff may run the task {spec.name!r}.")
    return spec


def task_specs_for(*, user) -> list[TaskSpec]:
    return [spec for spec in TASKS.values() if spec.allowed_for(user)]


def task_name_for(celery_name: str) -> str:
    """The registry name of a Celery task, or the Celery name for tasks outside the registry."""
    for spec in TASKS.values():
        if spec.task_path == celery_name:
            return spec.name
    return celery_name


# --- JSON schema of a serializer ----------------------------------------------------------------

_TYPES = [
    (serializers.BooleanField, "boolean"),
    (serializers.IntegerField, "integer"),
    (serializers.FloatField, "number"),
    (serializers.ChoiceField, "string"),
    (serializers.CharField, "string"),
]


def params_schema(serializer_class: type[serializers.Serializer]) -> dict:
    """A JSON schema (object with properties) for the fields of a parameter serializer."""
    properties: dict[str, dict] = {}
    required: list[str] = []
    for name, field in serializer_class().fields.items():
        prop: dict[str, Any] = {}
        for field_type, json_type in _TYPES:
            if isinstance(field, field_type):
                prop["type"] = [json_type, "null"] if field.allow_null else json_type
                break
        if isinstance(field, serializers.ChoiceField):
            prop["enum"] = list(field.choices)
        for attr, key in (("min_value", "minimum"), ("max_value", "maximum"), ("max_length", "maxLength")):
            if getattr(field, attr, None) is not None:
                prop[key] = getattr(field, attr)
        if field.default is not serializers.empty:
            prop["default"] = field.default
        if field.help_text:
            prop["description"] = str(field.help_text)
        if field.required:
            required.append(name)
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}

"""The tasks people may start through the API: name, description, parameters, who may run it.

Each app registers its own tasks (:func:`task_register`, from ``AppConfig.ready()``);
this app registers the generic ones (the progress test, the model zoo's download).
Each entry names its Celery task by dotted path and imports it only when it runs.
Parameters are validated with a DRF serializer, which also gives the JSON schema the
API lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string
from rest_framework import serializers

from core.errors import InvalidInput, PermissionDeniedError

# --- Parameter serializers -------------------------------------------------------------------


class DownloadModelParams(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Model zoo name of the model to download.")
    force = serializers.BooleanField(default=False, help_text="Download again even if the weights are already there.")

    def validate_name(self, value: str) -> str:
        from modelzoo.registry import MODELS

        if value not in MODELS:
            raise serializers.ValidationError(f"No model called {value!r} in the model zoo; known: {', '.join(sorted(MODELS))}.")
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
    # What a run costs against its user's rate limits, from its validated params:
    # {scope: count} (a batch search counts each of its searches); charged at start.
    costs: Callable[[dict], dict[str, int]] | None = None

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


TASKS: dict[str, TaskSpec] = {}


def task_register(spec: TaskSpec) -> TaskSpec:
    """Add a task that people may start through the API. Each app registers its own
    from ``AppConfig.ready()``; registering the same name again replaces the entry."""
    TASKS[spec.name] = spec
    return spec


task_register(
    TaskSpec(
        name="download_model",
        task_path="tasks_app.tasks.download_model",
        description="Download a model's weights from the model zoo into the models folder.",
        params=DownloadModelParams,
        staff_only=True,
    )
)
task_register(
    TaskSpec(
        name="test",
        task_path="tasks_app.tasks.progress_demo",
        description="Sleep in steps, reporting progress over the websocket after each, then finish.",
        params=ProgressTestParams,
    )
)


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
    """The tasks ``user`` may run: staff-only ones first, each group by name (the same
    order whatever order the apps registered them in)."""
    return sorted((spec for spec in TASKS.values() if spec.allowed_for(user)), key=lambda spec: (not spec.staff_only, spec.name))


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

"""Task and Socket API shapes: validation of requests, explicit output fields."""

from __future__ import annotations

from rest_framework import serializers

from ..models import TaskRun
from ..registry import TaskSpec, params_schema
from ..selectors import task_run_effective_state


class TaskSpecSerializer(serializers.Serializer):
    """One task a user may run (task/)."""

    name = serializers.CharField()
    description = serializers.CharField()
    staff_only = serializers.BooleanField()
    params = serializers.SerializerMethodField(help_text="JSON schema of the task's params.")

    def get_params(self, spec: TaskSpec) -> dict:
        return params_schema(spec.params)


class TaskRunRequestSerializer(serializers.Serializer):
    """Body of task/run/. ``params`` is checked against the task's own serializer."""

    task_name = serializers.CharField(max_length=100)
    params = serializers.JSONField(required=False, default=dict, help_text="Parameters of the task (see task/).")


class TaskStartedSerializer(serializers.ModelSerializer):
    """Answer of task/run/ and task/test/ (202): the id to watch on the websocket."""

    id = serializers.CharField(source="task_id")
    events = serializers.SerializerMethodField(help_text="Websocket path streaming this task's events.")

    class Meta:
        model = TaskRun
        fields = ["id", "name", "params", "state", "created_at", "events"]

    def get_events(self, run: TaskRun) -> str:
        return "/ws/v1/events/"


class ProgressSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    total = serializers.IntegerField()
    message = serializers.CharField(allow_blank=True)


class TaskRunSerializer(serializers.ModelSerializer):
    """A task run with its state, last progress, result or error (task/<id>/, task/recent/)."""

    id = serializers.CharField(source="task_id")
    user = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = TaskRun
        fields = [
            "id",
            "name",
            "params",
            "user",
            "state",
            "progress",
            "result",
            "error",
            "worker",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_user(self, run: TaskRun) -> str | None:
        return run.user.get_username() if run.user_id else None

    def get_state(self, run: TaskRun) -> str:
        return task_run_effective_state(run)

    def get_progress(self, run: TaskRun) -> dict | None:
        if run.progress_total is None:
            return None
        return {"current": run.progress_current, "total": run.progress_total, "message": run.progress_message}

    def get_error(self, run: TaskRun) -> str:
        celery = getattr(run, "celery_result", None)
        if run.error or celery is None or celery.status != "FAILURE":
            return run.error
        # Only Celery saw the failure (the worker died mid-task): its traceback's last line.
        lines = (celery.traceback or "").strip().splitlines()
        return lines[-1] if lines else "The task failed."


class ClientSerializer(serializers.Serializer):
    user = serializers.CharField()
    auth = serializers.ChoiceField(choices=["session", "token"])
    since = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()


class WorkerSerializer(serializers.Serializer):
    hostname = serializers.CharField()
    pid = serializers.IntegerField()
    since = serializers.DateTimeField()
    last_heartbeat = serializers.DateTimeField()


class ConnectedSerializer(serializers.Serializer):
    """socket/clients/: websocket clients and Celery workers present now."""

    clients = ClientSerializer(many=True)
    workers = WorkerSerializer(many=True)

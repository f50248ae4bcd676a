"""Task runs: who started which long job, its state and its last progress report."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TaskState(models.TextChoices):
    # Celery's own state names, so a row reads the same as django-celery-results' TaskResult.
    PENDING = "PENDING", "Pending"
    STARTED = "STARTED", "Started"
    SUCCESS = "SUCCESS", "Succeeded"
    FAILURE = "FAILURE", "Failed"
    REVOKED = "REVOKED", "Cancelled"


FINISHED_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED})


class TaskRun(models.Model):
    """One run of a background task, keyed by its Celery task id.

    Rows are created by the Task API before the task is enqueued (so the owner and the
    parameters are known) and by the worker when a task started elsewhere begins. The
    worker keeps ``state`` and the last progress report up to date; django-celery-results'
    ``TaskResult`` holds Celery's own record (result, traceback) next to it. A row exists
    in both embedded (inline) and Redis mode, so the API reads the same either way.
    """

    task_id = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=200, db_index=True, help_text="Registry name (e.g. 'build_index'), or the Celery name for tasks outside it")
    params = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="task_runs")
    state = models.CharField(max_length=16, choices=TaskState.choices, default=TaskState.PENDING, db_index=True)
    progress_current = models.BigIntegerField(null=True, blank=True)
    progress_total = models.BigIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="taskrun_user_recent")]

    def __str__(self) -> str:
        return f"{self.name} {self.task_id} {self.state}"

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

"""Admin for task runs: read-only history, with a cancel action through the service."""

from __future__ import annotations

from django.contrib import admin, messages

from core.errors import DomainError

from .models import FINISHED_STATES, TaskRun
from .services import task_cancel


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = ["task_id", "name", "user", "state", "progress_current", "progress_total", "worker", "created_at", "finished_at"]
    list_filter = ["state", "name"]
    search_fields = ["task_id", "name", "user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    actions = ["cancel_selected"]
    # Runs are written by the services and the workers only.
    readonly_fields = [f.name for f in TaskRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Cancel the selected pending or running tasks")
    def cancel_selected(self, request, queryset):
        cancelled = 0
        for run in queryset.exclude(state__in=FINISHED_STATES):
            try:
                task_cancel(run=run)
                cancelled += 1
            except DomainError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"Cancel requested for {cancelled} task(s).", messages.SUCCESS)

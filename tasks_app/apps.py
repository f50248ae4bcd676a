from django.apps import AppConfig


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Tasks"

    def ready(self) -> None:
        # Celery signal receivers: task lifecycle and worker presence.
        from . import signals  # noqa: F401

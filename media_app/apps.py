from django.apps import AppConfig


class MediaAppConfig(AppConfig):
    name = "media_app"
    verbose_name = "Media"

    def ready(self) -> None:
        from . import tasks

        tasks.register_tasks()

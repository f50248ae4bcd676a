from django.apps import AppConfig


class TextAppConfig(AppConfig):
    name = "text_app"
    verbose_name = "Words in pictures (OCR text and labels)"

    def ready(self) -> None:
        from . import hooks, tasks

        hooks.register()
        tasks.register_tasks()

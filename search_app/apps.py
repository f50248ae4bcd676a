from django.apps import AppConfig


class SearchAppConfig(AppConfig):
    name = "search_app"
    verbose_name = "Search and features"

    def ready(self) -> None:
        from search_app import tasks
        from search_app.analysis import report_files
        from search_app.indexing import hooks

        hooks.register()
        report_files.register()
        tasks.register_tasks()

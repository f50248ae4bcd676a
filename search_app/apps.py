from django.apps import AppConfig


class SearchAppConfig(AppConfig):
    name = "search_app"
    verbose_name = "Search and features"

    def ready(self) -> None:
        from media_app import hooks as media_hooks
        from search_app import tasks
        from search_app.analysis import report_files
        from search_app.indexing import hooks
        from search_app.query import keypoint_store
        from search_app.query.sources import forget_region_vectors, upload_decode_plan

        hooks.register()
        media_hooks.upload_decoding.register(upload_decode_plan)
        media_hooks.media_deleted.register(keypoint_store.forget)
        media_hooks.media_deleted.register(forget_region_vectors)
        media_hooks.upload_deleted.register(forget_region_vectors)
        media_hooks.ingest_media_stored.register(keypoint_store.on_ingest_media_stored)
        report_files.register()
        tasks.register_tasks()

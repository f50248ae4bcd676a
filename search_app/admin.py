"""Admin for Features: status, counts, version, error; actions that (re)build indexes
through the same service the API and the tasks use."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from .models import Feature
from .selectors import feature_storage_info
from .services import feature_schedule_build


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ("id", "modelzoo_name", "index_type", "active", "status", "item_count", "skipped_count", "index_version", "built_at", "short_error")
    list_filter = ("status", "index_type", "active", "modelzoo_name")
    search_fields = ("modelzoo_name", "username", "error")
    raw_id_fields = ("user",)
    readonly_fields = (
        "status",
        "item_count",
        "skipped_count",
        "index_version",
        "error",
        "built_at",
        "created_at",
        "updated_at",
        "heartbeat_at",
        "build_requested",
        "storage",
    )
    actions = ("update_index", "rebuild_index")

    @admin.display(description="error")
    def short_error(self, obj: Feature) -> str:
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    @admin.display(description="on disk")
    def storage(self, obj: Feature) -> str:
        info = feature_storage_info(feature=obj)
        vectors = info["vectors"]
        index = info["index"] or {}
        return format_html(
            "{} vectors stored ({} deleted, {} shards); index v{}: {} items, mode {}",
            vectors["stored"],
            vectors["deleted"],
            vectors["shards"],
            obj.index_version,
            index.get("count", 0),
            index.get("mode", "-"),
        )

    @admin.action(description="Update index (embed new media, drop deleted)")
    def update_index(self, request, queryset):
        for feature in queryset:
            feature_schedule_build(feature=feature)
        self.message_user(request, f"Scheduled {queryset.count()} index build(s).", messages.SUCCESS)

    @admin.action(description="Rebuild index from stored vectors (compact, new parameters)")
    def rebuild_index(self, request, queryset):
        for feature in queryset:
            feature_schedule_build(feature=feature, full=True)
        self.message_user(request, f"Scheduled {queryset.count()} full rebuild(s).", messages.SUCCESS)

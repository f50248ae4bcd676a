"""Admin for Features: status, counts, version, error; actions that (re)build indexes
through the same service the API and the tasks use."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from search_app.models import DetectionFeature, Feature, SearchRecord
from search_app.selectors import feature_storage_info
from search_app.services import feature_schedule_build


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


@admin.register(DetectionFeature)
class DetectionFeatureAdmin(admin.ModelAdmin):
    """Which detection models store their boxes; ``manage.py build_index NAME`` runs one
    on the media imported before it was added."""

    list_display = ("id", "modelzoo_name", "at_ingest", "min_score", "created_at")
    list_filter = ("at_ingest",)
    readonly_fields = ("created_at", "updated_at")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "modelzoo_name":
            from django import forms

            from modelzoo.registry import MODELS, DetectionModelSpec

            choices = [(n, n) for n, m in MODELS.items() if isinstance(m, DetectionModelSpec)]
            return forms.ChoiceField(choices=choices, label="Detection model")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(SearchRecord)
class SearchRecordAdmin(admin.ModelAdmin):
    """The search record, read-only even for staff: it is evidence of how items were
    found, so nobody adds, edits or deletes rows here."""

    list_display = (
        "id",
        "created_at",
        "username",
        "route",
        "query_type",
        "query_media_id",
        "query_sha256",
        "box",
        "feature_id",
        "modelzoo_name",
        "index_version",
    )
    list_filter = ("route", "query_type", "modelzoo_name")
    search_fields = ("username", "query_sha256")
    date_hierarchy = "created_at"

    # Every staff member may read it (the API's records/ route says the same), without
    # a per-model permission being granted first.
    def has_view_permission(self, request, obj=None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

"""Admin for collections and their memberships. Counts are annotated (no query per
row); media are picked by id (raw_id_fields), never from a select of every media."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.safestring import mark_safe

from .models import Collection, CollectionMedia
from .rendering import render_notes_html


class CollectionMediaInline(admin.TabularInline):
    model = CollectionMedia
    extra = 0
    raw_id_fields = ["media", "user"]
    fields = ["media", "username", "user", "added_at"]
    readonly_fields = ["added_at"]
    ordering = ["added_at", "id"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("media", "user")


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "username", "item_count", "archived", "created_at", "updated_at"]
    list_filter = ["archived"]
    search_fields = ["title", "notes", "username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["notes_preview", "created_at", "updated_at"]
    fields = ["title", "username", "user", "archived", "notes", "notes_preview", "created_at", "updated_at"]
    date_hierarchy = "created_at"
    inlines = [CollectionMediaInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_count=Count("items"))

    @admin.display(description="items", ordering="item_count")
    def item_count(self, obj: Collection) -> int:
        return obj.item_count

    @admin.display(description="notes (rendered)")
    def notes_preview(self, obj: Collection) -> str:
        return mark_safe(render_notes_html(obj.notes))  # sanitized by nh3

    def save_model(self, request, obj: Collection, form, change: bool) -> None:
        # Same defaults as collection_create(): attributed to whoever made it.
        if not change:
            obj.user = obj.user or request.user
            obj.username = obj.username or request.user.get_username()
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change: bool) -> None:
        # Memberships added here are attributed to the admin user, as the API does.
        for membership in formset.save(commit=False):
            if membership.pk is None:
                membership.user = membership.user or request.user
                membership.username = membership.username or request.user.get_username()
            membership.save()
        for membership in formset.deleted_objects:
            membership.delete()
        formset.save_m2m()


@admin.register(CollectionMedia)
class CollectionMediaAdmin(admin.ModelAdmin):
    list_display = ["id", "collection", "media", "username", "added_at"]
    list_select_related = ["collection", "media"]
    raw_id_fields = ["collection", "media", "user"]
    search_fields = ["collection__title", "media__sha256", "media__original_name", "username"]
    list_filter = ["collection__archived"]
    readonly_fields = ["added_at"]
    date_hierarchy = "added_at"

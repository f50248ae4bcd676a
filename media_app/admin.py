"""Admin for Media and Upload.

Rows enter only through the services (which hash, validate and store the bytes), so
the admin cannot add them, and deleting goes through the services too so files and
index entries go with the row. The collections app adds its "add to a collection"
action to the media list (``collections_app.admin``).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.utils.html import format_html

from .models import Media, MediaType, Upload
from .services import media_delete, upload_delete

_THUMB_STYLE = "max-height:64px;max-width:96px;object-fit:contain"


def _thumbnail_tag(name: str, style: str = _THUMB_STYLE) -> str:
    if not name:
        return "-"
    return format_html('<img src="{}" alt="" loading="lazy" style="{}">', default_storage.url(name), style)


class _StoredFileAdmin(admin.ModelAdmin):
    """What Media and Upload admins share: thumbnails, no adding, service deletes."""

    list_per_page = 50
    # The exact total needs a COUNT(*) over the whole table on every filtered page.
    show_full_result_count = False
    date_hierarchy = "created_at"

    @admin.display(description="Thumbnail")
    def thumb(self, obj) -> str:
        return _thumbnail_tag(obj.thumbnail.name)

    @admin.display(description="Preview")
    def preview(self, obj) -> str:
        return _thumbnail_tag(obj.thumbnail.name, style="max-height:320px;max-width:320px")

    @admin.display(description="Dimensions")
    def dimensions(self, obj) -> str:
        return f"{obj.width}×{obj.height}" if obj.width and obj.height else "-"

    def has_add_permission(self, request) -> bool:
        # New rows need hashing, validation and thumbnails: upload or ingest them.
        return False


@admin.register(Media)
class MediaAdmin(_StoredFileAdmin):
    list_display = ("thumb", "id", "media_type", "dimensions", "original_name", "created_at")
    list_display_links = ("thumb", "id")
    list_filter = ("media_type", "format", "created_at")
    search_fields = ("sha256", "original_name", "source_path")
    # Provenance (where it came from, under which name, its hash, its video) is evidence:
    # shown, never edited.
    readonly_fields = (
        "preview",
        "sha256",
        "original_name",
        "source_path",
        "parent",
        "media_type",
        "file",
        "thumbnail",
        "width",
        "height",
        "format",
        "byte_size",
        "frame_number",
        "timestamp",
        "duration",
        "created_at",
    )
    fields = (
        "preview",
        "sha256",
        "media_type",
        "original_name",
        "source_path",
        "file",
        "thumbnail",
        ("width", "height"),
        ("format", "byte_size"),
        "parent",
        ("frame_number", "timestamp"),
        "duration",
        "created_at",
    )

    def delete_model(self, request, obj: Media) -> None:
        media_delete(media=obj)

    def delete_queryset(self, request, queryset: QuerySet[Media]) -> None:
        # Through the service, one by one, so files and index entries go too. Videos
        # first: deleting one takes its frames with it, and those are then skipped.
        rows = sorted(queryset, key=lambda m: (m.media_type != MediaType.VIDEO, m.pk))
        deleted_videos: set[int] = set()
        for media in rows:
            if media.parent_id is not None and media.parent_id in deleted_videos:
                continue
            media_id = media.pk  # delete() sets pk to None
            media_delete(media=media)
            if media.media_type == MediaType.VIDEO:
                deleted_videos.add(media_id)


@admin.register(Upload)
class UploadAdmin(_StoredFileAdmin):
    list_display = ("thumb", "id", "dimensions", "original_name", "username", "created_at")
    list_display_links = ("thumb", "id")
    list_filter = ("format", "created_at")
    search_fields = ("sha256", "original_name", "username")
    raw_id_fields = ("user",)
    readonly_fields = ("preview", "sha256", "original_name", "file", "thumbnail", "width", "height", "format", "byte_size", "created_at")
    fields = (
        "preview",
        "sha256",
        "original_name",
        "user",
        "username",
        "file",
        "thumbnail",
        ("width", "height"),
        ("format", "byte_size"),
        "created_at",
    )

    def delete_model(self, request, obj: Upload) -> None:
        upload_delete(upload=obj)

    def delete_queryset(self, request, queryset: QuerySet[Upload]) -> None:
        for upload in queryset:
            upload_delete(upload=upload)

"""Admin for Media and Upload.

Rows enter only through the services (which hash, validate and store the bytes), so
the admin cannot add them, and deleting goes through the services too so files and
index entries go with the row.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.utils.html import format_html

from collections_app.models import Collection

from .models import Media, MediaType, Upload
from .services import media_delete, upload_delete

_THUMB_STYLE = "max-height:64px;max-width:96px;object-fit:contain"
_ACTION_PREVIEW = 20


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


class AddToCollectionForm(forms.Form):
    collection = forms.ModelChoiceField(
        queryset=Collection.objects.order_by("archived", "title", "id"),
        help_text="The selected media are added to this collection; media already in it are left as they are.",
    )


@admin.register(Media)
class MediaAdmin(_StoredFileAdmin):
    list_display = ("thumb", "id", "media_type", "dimensions", "original_name", "created_at")
    list_display_links = ("thumb", "id")
    list_filter = ("media_type", "format", "created_at")
    search_fields = ("sha256", "original_name", "source_path")
    raw_id_fields = ("parent",)
    readonly_fields = (
        "preview",
        "sha256",
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
    actions = ["add_to_collection"]

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

    def has_add_to_collection_permission(self, request) -> bool:
        return request.user.has_perm("collections_app.add_collectionmedia")

    @admin.action(description="Add selected media to a collection", permissions=["add_to_collection"])
    def add_to_collection(self, request, queryset: QuerySet[Media]):
        """Ask for a collection (intermediate page), then add every selected media to it
        through collections_app's service, as the API does."""
        from collections_app.services import collection_add_media

        form = AddToCollectionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            collection = form.cleaned_data["collection"]
            added = present = 0
            for media in queryset.order_by("id").iterator():
                _, created = collection_add_media(collection=collection, media=media, user=request.user)
                if created:
                    added += 1
                else:
                    present += 1
            self.message_user(
                request,
                f"Added {added} media to “{collection.title}”" + (f"; {present} were already in it." if present else "."),
                messages.SUCCESS,
            )
            return None  # back to the change list

        select_across = request.POST.get("select_across") == "1"
        context = {
            **self.admin_site.each_context(request),
            "title": "Add media to a collection",
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
            "item_count": queryset.count(),
            "preview": list(queryset.order_by("id")[:_ACTION_PREVIEW]),
            "select_across": select_across,
            # Echo what the change list posted (at most one page of ids): with
            # select_across the change list's filters re-select every match on apply.
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/media_app/media/add_to_collection.html", context)


@admin.register(Upload)
class UploadAdmin(_StoredFileAdmin):
    list_display = ("thumb", "id", "dimensions", "original_name", "username", "created_at")
    list_display_links = ("thumb", "id")
    list_filter = ("format", "created_at")
    search_fields = ("sha256", "original_name", "username")
    raw_id_fields = ("user",)
    readonly_fields = ("preview", "sha256", "file", "thumbnail", "width", "height", "format", "byte_size", "created_at")
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

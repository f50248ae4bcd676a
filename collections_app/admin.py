"""Admin for collections and their memberships. Counts are annotated (no query per
row); media are picked by id (raw_id_fields), never from a select of every media.

The media list gains an "add to a collection" action here: the media app's admin is
extended by the app above it rather than importing it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, QuerySet
from django.template.response import TemplateResponse
from django.utils.safestring import mark_safe

from media_app.admin import MediaAdmin, _thumbnail_tag
from media_app.models import Media

from .models import Collection, CollectionMedia
from .rendering import notes_problem, render_notes_html
from .services import collection_add_media, collection_touch

_ACTION_PREVIEW = 20


@admin.display(description="Thumbnail")
def _membership_thumb(obj: CollectionMedia) -> str:
    return _thumbnail_tag(obj.media.thumbnail.name) if obj.media_id else "-"


class CollectionMediaInline(admin.TabularInline):
    model = CollectionMedia
    extra = 0
    raw_id_fields = ["media", "user"]
    fields = ["thumb", "media", "username", "user", "added_at", "search_record"]
    readonly_fields = ["thumb", "added_at", "search_record"]
    thumb = staticmethod(_membership_thumb)
    ordering = ["added_at", "id"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("media", "user")


class CollectionAdminForm(forms.ModelForm):
    class Meta:
        model = Collection
        fields = ["title", "username", "user", "archived", "notes"]

    def clean_notes(self) -> str:
        # The limits of the API's writes (collections_app.services).
        notes = self.cleaned_data.get("notes") or ""
        problem = notes_problem(notes)
        if problem is not None:
            raise forms.ValidationError(problem)
        return notes


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    form = CollectionAdminForm
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
        if formset.new_objects or formset.changed_objects or formset.deleted_objects:
            collection_touch(collection_id=form.instance.pk)


@admin.register(CollectionMedia)
class CollectionMediaAdmin(admin.ModelAdmin):
    list_display = ["thumb", "id", "collection", "media", "username", "added_at", "search_record"]
    list_display_links = ["thumb", "id"]
    list_select_related = ["collection", "media"]
    raw_id_fields = ["collection", "media", "user"]
    search_fields = ["collection__title", "media__sha256", "media__original_name", "username"]
    list_filter = ["collection__archived"]
    # The search that found it is evidence of how: shown, never edited here.
    readonly_fields = ["thumb", "added_at", "search_record"]
    thumb = staticmethod(_membership_thumb)
    date_hierarchy = "added_at"

    # A membership changed here changes its collection, as the API's writes do.
    def save_model(self, request, obj: CollectionMedia, form, change: bool) -> None:
        previous = CollectionMedia.objects.filter(pk=obj.pk).values_list("collection_id", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        for collection_id in {obj.collection_id, previous} - {None}:
            collection_touch(collection_id=collection_id)

    def delete_model(self, request, obj: CollectionMedia) -> None:
        super().delete_model(request, obj)
        collection_touch(collection_id=obj.collection_id)

    def delete_queryset(self, request, queryset) -> None:
        collection_ids = set(queryset.values_list("collection_id", flat=True))
        super().delete_queryset(request, queryset)
        for collection_id in collection_ids:
            collection_touch(collection_id=collection_id)


class _CollectionChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Collection) -> str:
        # The count says what it holds; the id alone read like one ("Case (1)").
        return f"{obj.title} · {obj.item_count} item{'' if obj.item_count == 1 else 's'} · by {obj.username or '-'} · #{obj.pk}"


class AddToCollectionForm(forms.Form):
    # Archived collections are closed records: they take no new media.
    collection = _CollectionChoice(
        queryset=Collection.objects.filter(archived=False).annotate(item_count=Count("items")).order_by("title", "id"),
        help_text="The selected media are added to this collection; media already in it are left as they are. Archived collections are not listed.",
    )


class MediaWithCollectionsAdmin(MediaAdmin):
    """The media admin with the "add selected media to a collection" action."""

    actions = [*(MediaAdmin.actions or []), "add_to_collection"]

    def has_add_to_collection_permission(self, request) -> bool:
        return request.user.has_perm("collections_app.add_collectionmedia")

    @admin.action(description="Add selected media to a collection", permissions=["add_to_collection"])
    def add_to_collection(self, request, queryset: QuerySet[Media]):
        """Ask for a collection (intermediate page), then add every selected media to it
        through collections_app's service, as the API does."""
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


admin.site.unregister(Media)
admin.site.register(Media, MediaWithCollectionsAdmin)

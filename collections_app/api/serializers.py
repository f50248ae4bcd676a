"""Input validation and output shapes of the Collection API. No side effects here:
the views hand validated data to collections_app.services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.ids import IdField
from core.api.pagination import PageField
from media_app.api.serializers import file_url

from ..models import Collection, CollectionMedia
from ..rendering import render_notes_html
from ..selectors import membership_found_by as found_by


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean, nothing else: ``"no"`` or ``0`` meaning False is a surprise in an
    evidence tool, so it is rejected rather than guessed."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid")


class CollectionWriteSerializer(serializers.Serializer):
    """Body of POST and PUT/PATCH. On PUT every field is optional (partial update)."""

    title = serializers.CharField(max_length=Collection._meta.get_field("title").max_length, allow_blank=False, trim_whitespace=True)
    username = serializers.CharField(max_length=Collection._meta.get_field("username").max_length, allow_blank=True, trim_whitespace=True, required=False)
    notes = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, help_text="Markdown")
    archived = StrictBooleanField(required=False)


class CollectionAddMediaSerializer(serializers.Serializer):
    media_id = IdField()
    username = serializers.CharField(max_length=CollectionMedia._meta.get_field("username").max_length, allow_blank=True, required=False)
    search_record = IdField(
        required=False,
        allow_null=True,
        help_text="Id of the search whose results showed this media (record_id of the search answer); the export lists it.",
    )


class ArchivedFilterSerializer(serializers.Serializer):
    archived = serializers.ChoiceField(choices=["true", "false"], required=False)


class FoundBySerializer(serializers.Serializer):
    """The search whose answer showed the item when it was added."""

    search_record = serializers.IntegerField(help_text="Id of the search record (staff browse it at search/records/).")
    searched_at = serializers.DateTimeField()
    searched_by = serializers.CharField()
    query = serializers.CharField(help_text="The query in one line: media or upload, its sha256, a seed, a region.")
    query_type = serializers.CharField()
    query_media_id = serializers.IntegerField(allow_null=True)
    query_upload_id = serializers.IntegerField(allow_null=True)
    query_sha256 = serializers.CharField()
    box = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    feature_id = serializers.IntegerField()
    modelzoo_name = serializers.CharField()
    rank = serializers.IntegerField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    match = serializers.CharField(allow_null=True, help_text="exact, copy or similar, where the search said.")


class CollectionItemSerializer(serializers.ModelSerializer):
    """One media in a collection, with who added it and when."""

    media_id = serializers.IntegerField(source="media.id", read_only=True)
    sha256 = serializers.CharField(source="media.sha256", read_only=True)
    media_type = serializers.CharField(source="media.media_type", read_only=True)
    original_name = serializers.CharField(source="media.original_name", read_only=True)
    thumbnail_url = serializers.SerializerMethodField()
    parent = serializers.IntegerField(source="media.parent_id", read_only=True, allow_null=True, help_text="A frame's video; null otherwise.")
    timestamp = serializers.FloatField(source="media.timestamp", read_only=True, allow_null=True, help_text="A frame's time in its video, in seconds.")
    added_by = serializers.CharField(source="username", read_only=True)
    found_by = serializers.SerializerMethodField()

    class Meta:
        model = CollectionMedia
        fields = ["media_id", "sha256", "media_type", "original_name", "thumbnail_url", "parent", "timestamp", "added_by", "added_at", "found_by"]
        read_only_fields = fields

    # Absolute, like the media routes' URLs (a client follows either the same way), and
    # null for a media without a thumbnail.
    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, obj: CollectionMedia) -> str | None:
        return file_url(self.context.get("request"), obj.media.thumbnail.name)

    @extend_schema_field(FoundBySerializer(allow_null=True))
    def get_found_by(self, obj: CollectionMedia) -> dict | None:
        return found_by(obj)


class CollectionMembershipSerializer(CollectionItemSerializer):
    """Answer of POST collection/<id>/media/."""

    collection_id = serializers.IntegerField(read_only=True)

    class Meta(CollectionItemSerializer.Meta):
        fields = ["collection_id", *CollectionItemSerializer.Meta.fields]
        read_only_fields = fields


class CollectionSerializer(serializers.ModelSerializer):
    """A collection in lists: ``item_count`` comes from the selector's annotation."""

    item_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Collection
        fields = ["id", "title", "username", "notes", "archived", "item_count", "created_at", "updated_at"]
        read_only_fields = fields


class CollectionDetailSerializer(CollectionSerializer):
    """One collection: notes rendered to sanitized HTML, and one page of its items
    (the view passes the page in the ``items_page`` context key)."""

    notes_html = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()

    class Meta(CollectionSerializer.Meta):
        fields = [*CollectionSerializer.Meta.fields, "notes_html", "items"]
        read_only_fields = fields

    def get_notes_html(self, obj: Collection) -> str:
        return render_notes_html(obj.notes)

    @extend_schema_field(PageField(CollectionItemSerializer))
    def get_items(self, obj: Collection) -> dict:
        page = self.context["items_page"]
        return {**page, "results": CollectionItemSerializer(page["results"], many=True, context=self.context).data}


class CollectionDeletedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deleted = serializers.BooleanField()


class CollectionMediaRemovedSerializer(serializers.Serializer):
    deleted = serializers.BooleanField()

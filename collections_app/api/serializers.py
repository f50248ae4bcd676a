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


class CollectionItemSerializer(serializers.ModelSerializer):
    """One media in a collection, with who added it and when."""

    media_id = serializers.IntegerField(source="media.id", read_only=True)
    sha256 = serializers.CharField(source="media.sha256", read_only=True)
    media_type = serializers.CharField(source="media.media_type", read_only=True)
    original_name = serializers.CharField(source="media.original_name", read_only=True)
    thumbnail_url = serializers.SerializerMethodField()
    added_by = serializers.CharField(source="username", read_only=True)

    class Meta:
        model = CollectionMedia
        fields = ["media_id", "sha256", "media_type", "original_name", "thumbnail_url", "added_by", "added_at"]
        read_only_fields = fields

    # Absolute, like the media routes' URLs (a client follows either the same way), and
    # null for a media without a thumbnail.
    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_thumbnail_url(self, obj: CollectionMedia) -> str | None:
        return file_url(self.context.get("request"), obj.media.thumbnail.name)


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

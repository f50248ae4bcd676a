"""Query-string validation and response shapes of the stored-detection routes."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from core.api.ids import IdField
from media_app.api.serializers import MediaSerializer
from media_app.models import MediaType
from search_app.hooks import collection_members


class DetectionSearchParamsSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=200, help_text="The label, exactly as the model's label file spells it.")
    min_score = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0)
    model = serializers.CharField(max_length=100, required=False, help_text="Only boxes of this detection model.")
    media_type = serializers.ChoiceField(choices=[MediaType.IMAGE, MediaType.VIDEO_FRAME], required=False)
    collection = IdField(required=False)
    offset = serializers.IntegerField(min_value=0, max_value=1_000_000_000, default=0)
    limit = serializers.IntegerField(min_value=1, required=False)

    def validate_limit(self, value: int) -> int:
        if value > settings.SEARCH_MAX_LIMIT:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {settings.SEARCH_MAX_LIMIT}.")
        return value

    def validate_collection(self, value: int) -> int:
        if collection_members(value) is None:
            raise serializers.ValidationError(f"No collection with id {value}.")
        return value

    def validate(self, attrs):
        attrs.setdefault("limit", settings.SEARCH_PAGE_SIZE)
        return attrs


def parse_detection_search_params(query_params) -> dict:
    ser = DetectionSearchParamsSerializer(data={k: v for k, v in query_params.items() if v != ""})
    ser.is_valid(raise_exception=True)
    d = ser.validated_data
    return {
        "label": d["label"],
        "min_score": d["min_score"],
        "model": d.get("model"),
        "media_type": d.get("media_type"),
        "collection_id": d.get("collection"),
        "offset": d["offset"],
        "limit": d["limit"],
    }


class StoredDetectionSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="The detection model that found it.")
    label = serializers.CharField()
    label_id = serializers.IntegerField()
    score = serializers.FloatField()
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4, help_text="x1, y1, x2, y2 normalised to 0..1")


class DetectionHitSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField(help_text="The best score of a box of the label on this media.")
    media = MediaSerializer()
    detections = StoredDetectionSerializer(many=True, help_text="The media's boxes of the label, best first.")


class DetectionSearchResultSerializer(serializers.Serializer):
    label = serializers.CharField()
    min_score = serializers.FloatField()
    model = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(help_text="How many media have such a box (exact).")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    has_more = serializers.BooleanField()
    results = DetectionHitSerializer(many=True)


class MediaDetectionsSerializer(serializers.Serializer):
    media_id = serializers.IntegerField()
    items = StoredDetectionSerializer(many=True)

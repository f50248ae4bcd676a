"""Feature API shapes. Validation of model names, index types and parameters lives in
the services (the admin and the commands need it too); these check JSON types."""

from __future__ import annotations

from rest_framework import serializers

from modelzoo.registry import MODELS
from modelzoo.weights import default_model_name
from search_app.indexing.index import INDEX_TYPES
from search_app.models import Feature


class FeatureSerializer(serializers.ModelSerializer):
    has_index = serializers.BooleanField(read_only=True, help_text="A built index version exists and can be searched.")
    embedding_dim = serializers.SerializerMethodField(help_text="Dimensions of the model's vectors.")

    class Meta:
        model = Feature
        fields = [
            "id",
            "active",
            "modelzoo_name",
            "index_type",
            "index_params",
            "username",
            "status",
            "item_count",
            "skipped_count",
            "error",
            "index_version",
            "has_index",
            "milvus_collection",
            "milvus_version",
            "embedding_dim",
            "created_at",
            "updated_at",
            "built_at",
        ]
        read_only_fields = fields

    def get_embedding_dim(self, feature: Feature) -> int | None:
        return getattr(MODELS.get(feature.modelzoo_name), "embedding_dim", None)


class _IndexParamsField(serializers.JSONField):
    """An object with any of M, ef_construction, ef (checked by the service)."""


class FeatureCreateSerializer(serializers.Serializer):
    active = serializers.BooleanField(default=True)
    modelzoo_name = serializers.CharField(
        max_length=100, required=False, help_text="An embedding model of the model zoo (default: the server's default model)."
    )
    index_type = serializers.ChoiceField(choices=list(INDEX_TYPES), default="hnsw")
    username = serializers.CharField(max_length=150, required=False, allow_blank=True, help_text="Defaults to the authenticated user.")
    index_params = _IndexParamsField(
        required=False, allow_null=True, help_text="Optional {M, ef_construction, ef}; defaults M=16, ef_construction=200, ef=128."
    )

    def validate(self, attrs: dict) -> dict:
        attrs.setdefault("modelzoo_name", default_model_name())
        return attrs


class FeatureUpdateSerializer(serializers.Serializer):
    """Every field optional: only the ones sent change."""

    active = serializers.BooleanField(required=False)
    modelzoo_name = serializers.CharField(max_length=100, required=False, help_text="Only while the feature has no vectors; else 409.")
    index_type = serializers.ChoiceField(choices=list(INDEX_TYPES), required=False, help_text="Changing it rebuilds the index from the stored vectors.")
    username = serializers.CharField(max_length=150, required=False, allow_blank=True)
    index_params = _IndexParamsField(required=False, help_text="Merged over the current parameters; a change rebuilds the index from the stored vectors.")


class FeatureDeletedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deleted = serializers.BooleanField()

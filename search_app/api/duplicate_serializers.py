"""Output shapes of the near-duplicate API: the views hand these the groups and media
rows, and these produce the answers."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from media_app.api.serializers import MediaCompactSerializer
from media_app.models import Media
from search_app.analysis.duplicates import DuplicateGroup, group_key


def _run_field() -> serializers.DictField:
    return serializers.DictField(
        allow_null=True, help_text="The latest run: threshold, k, index_version, item_count, edge_count, group_count, seconds, created_at."
    )


# No docstrings on these classes: drf-spectacular would publish them as descriptions.


# A member of a media's group, with its similarity to that media.
class DuplicateMemberSerializer(serializers.Serializer):
    score = serializers.FloatField(allow_null=True)
    media = MediaCompactSerializer()


# A group's members as rows: context ``media`` maps ids to the loaded rows,
# ``members_shown`` caps the members listed (None: all of them).
@extend_schema_field(MediaCompactSerializer(many=True))
class _GroupMembersField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(source="*", **kwargs)

    def to_representation(self, group: DuplicateGroup) -> list:
        rows: dict[int, Media] = self.context["media"]
        shown = [rows[m] for m in group.media_ids[: self.context["members_shown"]] if m in rows]
        return MediaCompactSerializer(shown, many=True, context=self.context).data


# A curator's review of a group: who, when, and the member to keep (null: none chosen).
class DuplicateReviewSerializer(serializers.Serializer):
    reviewed_by = serializers.CharField()
    reviewed_at = serializers.DateTimeField()
    keep = serializers.IntegerField(allow_null=True)


class DuplicateGroupSerializer(serializers.Serializer):
    group = serializers.IntegerField(source="number")
    size = serializers.IntegerField()
    score_min = serializers.FloatField()
    score_max = serializers.FloatField()
    media_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Every member's id, also those beyond the members listed in media.")
    review = serializers.SerializerMethodField()
    media = _GroupMembersField()

    @extend_schema_field(DuplicateReviewSerializer(allow_null=True))
    def get_review(self, group: DuplicateGroup) -> dict | None:
        review = self.context.get("reviews", {}).get(group_key(group.media_ids))
        return DuplicateReviewSerializer(review).data if review else None


# One page of a feature's groups in its latest run.
class DuplicateGroupsPageSerializer(serializers.Serializer):
    feature_id = serializers.IntegerField()
    run = _run_field()
    threshold = serializers.FloatField()
    default_threshold = serializers.FloatField(help_text="What a run uses when no threshold is given: measured per model.")
    count = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    results = DuplicateGroupSerializer(many=True)


# A media's group in a feature's latest run: the other members, most similar first.
class MediaDuplicatesSerializer(serializers.Serializer):
    media_id = serializers.IntegerField()
    feature_id = serializers.IntegerField()
    run = _run_field()
    threshold = serializers.FloatField()
    group = serializers.IntegerField(allow_null=True)
    size = serializers.IntegerField()
    results = DuplicateMemberSerializer(many=True)

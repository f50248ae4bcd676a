"""Query-string validation and response shape of the word search (``search/text/``):
the same paging, filters and answer as the image searches, and each hit's matching
text lines (with boxes) and labels."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import serializers

from core.api.ids import IdField
from media_app.api.serializers import MediaSerializer
from media_app.models import MediaType
from search_app.api.search_serializers import DetectionsSerializer, SearchFeatureSerializer
from search_app.hooks import collection_members
from search_app.query.search import MAX_DEPTH, SearchOptions
from search_app.text.search import TextOutcome, TextSearchOptions
from text_app.query import MAX_QUERY_CHARS


class TextSearchParamsSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        help_text=f'Words: all required; "a phrase"; a OR b; -word excludes. At most {MAX_QUERY_CHARS} characters.',
    )
    label = serializers.CharField(required=False, default="", allow_blank=True, help_text="An ImageNet class name (tank, assault rifle) or index.")
    mode = serializers.ChoiceField(choices=["words", "clip"], default="words")
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, required=False)
    media_type = serializers.ChoiceField(choices=[MediaType.IMAGE, MediaType.VIDEO_FRAME], required=False)
    collection = IdField(required=False)
    date_from = serializers.DateField(required=False, help_text="Only media imported on or after this day (UTC).")
    date_to = serializers.DateField(required=False, help_text="Only media imported on or before this day (UTC).")
    min_score = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, help_text="With label: only pictures where it has at least this probability."
    )
    feature = serializers.IntegerField(min_value=0, required=False, help_text="mode=clip: the CLIP feature to search (default: the newest ready one).")

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
        if attrs["offset"] + attrs["limit"] > MAX_DEPTH:
            raise serializers.ValidationError({"offset": [f"offset + limit may be at most {MAX_DEPTH}."]})
        if not attrs["q"].strip() and not attrs["label"].strip():
            raise serializers.ValidationError({"q": ["The query is empty: give at least one word (q) or a label."]})
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["date_to is before date_from."]})
        return attrs

    def to_options(self) -> TextSearchOptions:
        d = self.validated_data

        def day_start(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC if settings.USE_TZ else None)

        feature = d.get("feature") or None
        page = SearchOptions(
            offset=d["offset"],
            limit=d["limit"],
            media_type=d.get("media_type"),
            collection_id=d.get("collection"),
            min_score=d.get("min_score"),
            feature_id=feature if d["mode"] == "clip" else None,
        )
        dates = {k: d[k].isoformat() for k in ("date_from", "date_to") if d.get(k)}
        return TextSearchOptions(
            page=page,
            q=d["q"],
            label=d["label"],
            mode=d["mode"],
            created_from=day_start(d["date_from"]) if d.get("date_from") else None,
            created_before=day_start(d["date_to"] + dt.timedelta(days=1)) if d.get("date_to") else None,
            date_params=dates,
        )


def parse_text_search_params(query_params) -> TextSearchOptions:
    data = {k: v for k, v in query_params.items() if v != "" or k == "q"}
    ser = TextSearchParamsSerializer(data=data)
    ser.is_valid(raise_exception=True)
    return ser.to_options()


class TextLineSerializer(serializers.Serializer):
    text = serializers.CharField()
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, help_text="x1, y1, x2, y2 normalised to 0..1 of the upright picture"
    )
    quad = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()), help_text="The line's four corners [x, y], normalised")
    confidence = serializers.FloatField()


class LabelMatchSerializer(serializers.Serializer):
    label = serializers.CharField()
    label_id = serializers.IntegerField(help_text="ImageNet-1k class index")
    score = serializers.FloatField(help_text="The classifier's probability, 0..1")


class TextHitSerializer(serializers.Serializer):
    """A hit of a word search: an image search's rank, score and media, and where the
    words are on the picture."""

    rank = serializers.IntegerField()
    media = MediaSerializer()
    score = serializers.FloatField(
        help_text="Words: text relevance (higher is better; ts_rank on PostgreSQL, -bm25 on SQLite). Label: its probability. CLIP: cosine similarity."
    )
    text = TextLineSerializer(many=True, help_text="The lines of the picture's text that match the words, with their boxes.")
    labels = LabelMatchSerializer(many=True, help_text="The labels of the picture that match label=.")


class TextQueryInfoSerializer(serializers.Serializer):
    type = serializers.CharField()
    q = serializers.CharField(allow_blank=True)
    label = serializers.CharField(allow_null=True)
    mode = serializers.CharField()


@dataclass
class TextAnswer:
    """What a word search answers (TextSearchResultSerializer renders it)."""

    outcome: Any
    options: TextSearchOptions
    record_id: int

    @property
    def query(self) -> dict[str, Any]:
        return self.outcome.source.describe()

    @property
    def feature(self) -> dict[str, Any] | None:
        if isinstance(self.outcome, TextOutcome):
            return None
        outcome = self.outcome
        return {
            "id": outcome.feature.pk,
            "modelzoo_name": outcome.feature.modelzoo_name,
            "index_type": outcome.index.index_type,
            "index_version": outcome.index.version,
        }

    @property
    def index_count(self) -> int:
        return self.outcome.index_count if isinstance(self.outcome, TextOutcome) else self.outcome.index.count

    @property
    def offset(self) -> int:
        return self.options.page.offset

    @property
    def limit(self) -> int:
        return self.options.page.limit

    @property
    def has_more(self) -> bool:
        return not self.outcome.exhausted

    @property
    def results(self) -> list[dict[str, Any]]:
        words = getattr(self.outcome, "words", {})
        rows = []
        for i, hit in enumerate(self.outcome.hits):
            media = self.outcome.media.get(hit.media_id)
            if media is None:
                continue
            found = words.get(hit.media_id)
            lines = [{"text": ln.text, "box": ln.box, "quad": ln.quad, "confidence": ln.confidence} for ln in (found.lines if found else [])]
            rows.append({"rank": self.offset + i + 1, "score": round(hit.score, 6), "media": media, "text": lines, "labels": found.labels if found else []})
        return rows

    @property
    def detections(self) -> None:
        return None

    @property
    def timing_ms(self) -> dict[str, float]:
        return self.outcome.timing_ms


class TextSearchResultSerializer(serializers.Serializer):
    record_id = serializers.IntegerField(help_text="Id of this search's record; pass it as search_record when adding a hit to a collection.")
    query = TextQueryInfoSerializer()
    feature = SearchFeatureSerializer(allow_null=True, help_text="The CLIP feature searched (mode=clip); null for a words search.")
    index_count = serializers.IntegerField(help_text="Pictures searched: those whose text was read (words), or the index's items (clip).")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    has_more = serializers.BooleanField()
    results = TextHitSerializer(many=True)
    detections = DetectionsSerializer(allow_null=True)
    timing_ms = serializers.DictField(child=serializers.FloatField())

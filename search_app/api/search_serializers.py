"""Query-string validation and response shapes of the Search API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import serializers

from core.api.ids import IdField
from media_app.api.serializers import MediaSerializer, UploadSerializer
from media_app.models import MediaType
from search_app.hooks import collection_members
from search_app.query.matching import MATCH_LABELS
from search_app.query.search import MAX_DEPTH, SearchOptions, SearchOutcome
from search_app.query.sources import query_types

# A region narrower or lower than this share of the image is too small to mean anything.
MIN_BOX_SIDE = 0.02


def parse_box(value: str) -> tuple[float, float, float, float]:
    """``x1,y1,x2,y2`` normalised: four finite numbers in [0, 1], x1 < x2, y1 < y2, each
    side at least MIN_BOX_SIDE; rounded to 4 decimals (the cache key of the crop)."""
    import math

    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) != 4:
        raise serializers.ValidationError("Expected four numbers: x1,y1,x2,y2.")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise serializers.ValidationError("Expected four numbers: x1,y1,x2,y2.") from None
    if not all(math.isfinite(n) and 0.0 <= n <= 1.0 for n in numbers):
        raise serializers.ValidationError("Coordinates are normalised: each must be between 0 and 1.")
    x1, y1, x2, y2 = (round(n, 4) for n in numbers)
    if not (x1 < x2 and y1 < y2):
        raise serializers.ValidationError("Need x1 < x2 and y1 < y2.")
    if x2 - x1 < MIN_BOX_SIDE or y2 - y1 < MIN_BOX_SIDE:
        raise serializers.ValidationError(f"The region must be at least {MIN_BOX_SIDE} of the image wide and high.")
    return (x1, y1, x2, y2)


class SearchParamsSerializer(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, required=False)
    include_self = serializers.BooleanField(default=False)
    media_type = serializers.ChoiceField(choices=MediaType.values, required=False)
    collection = IdField(required=False)
    min_score = serializers.FloatField(min_value=-1.0, max_value=1.0, required=False)
    group = serializers.ChoiceField(choices=["video"], required=False)
    feature = IdField(required=False)
    box = serializers.CharField(required=False, max_length=200, help_text="Region search: x1,y1,x2,y2 normalised to 0..1 on the upright query image.")

    def validate_box(self, value: str) -> tuple[float, float, float, float]:
        return parse_box(value)

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
        return attrs

    def to_options(self) -> SearchOptions:
        d = self.validated_data
        return SearchOptions(
            offset=d["offset"],
            limit=d["limit"],
            include_self=d["include_self"],
            media_type=d.get("media_type"),
            collection_id=d.get("collection"),
            min_score=d.get("min_score"),
            group_video=d.get("group") == "video",
            feature_id=d.get("feature"),
            box=d.get("box"),
        )


def parse_search_params(query_params) -> SearchOptions:
    data = {k: v for k, v in query_params.items() if v != ""}
    ser = SearchParamsSerializer(data=data)
    ser.is_valid(raise_exception=True)
    return ser.to_options()


class CompareParamsSerializer(serializers.Serializer):
    compare_feature = IdField(required=False)


def parse_compare_feature(query_params) -> int | None:
    """The ``compare_feature`` id of a search request (side-by-side scores), or None."""
    value = query_params.get("compare_feature")
    if value in (None, ""):
        return None
    ser = CompareParamsSerializer(data={"compare_feature": value})
    ser.is_valid(raise_exception=True)
    return ser.validated_data["compare_feature"]


class SearchHitSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField(help_text="Cosine similarity to the query; higher is closer (1.0 = same vector).")
    scores = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        required=False,
        help_text="With compare_feature only: cosine similarity per feature id, the searched one and the compared one (null where that feature has not indexed the hit).",
    )
    match = serializers.ChoiceField(
        choices=MATCH_LABELS,
        help_text=(
            "How strongly the hit matches the query: exact (the same bytes: equal sha256), copy (the same picture, "
            "edited: cropped, resized, re-encoded, recoloured, turned, inside another picture or a screenshot; confirmed "
            "by a geometric check of keypoints, or scoring at least the copy threshold measured on bench/robustness.py) "
            "or similar (looks alike). Among the first 10 results exact hits come first, then copies, then the rest."
        ),
    )
    region = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        allow_null=True,
        help_text="Where the match lies in the hit (x1, y1, x2, y2 normalised to its upright image): the part of it the query shows. Null when no region was found (an exact hit, or whole pictures matched by their vectors).",
    )
    query_region = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        allow_null=True,
        help_text="Where the hit lies in the query (x1, y1, x2, y2 normalised): the picture inside a screenshot or inside another picture. Null when no region was found.",
    )
    verified = serializers.BooleanField(
        help_text="True when the geometric check confirmed the match: keypoints agreeing on one transform (which locates the regions), or the whole pictures' perceptual hashes a few bits apart."
    )
    media = MediaSerializer()


class SearchFeatureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    modelzoo_name = serializers.CharField()
    index_type = serializers.CharField()
    index_version = serializers.IntegerField()


class DetectionSerializer(serializers.Serializer):
    label = serializers.CharField()
    label_id = serializers.IntegerField()
    score = serializers.FloatField()
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4, help_text="x1, y1, x2, y2 normalised to 0..1")


class DetectionsSerializer(serializers.Serializer):
    model = serializers.CharField()
    items = DetectionSerializer(many=True)


class SearchQueryInfoSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=query_types())
    seed = serializers.CharField(allow_null=True)
    media = MediaSerializer(allow_null=True)
    upload = UploadSerializer(allow_null=True)
    box = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        allow_null=True,
        help_text="The region searched (x1, y1, x2, y2 normalised), or null for the whole image.",
    )


@dataclass
class SearchAnswer:
    """What a search response shows (SearchResultSerializer renders it): the outcome of
    search_run, the page asked for, the id of its record, and the side-by-side scores
    when ``compare_feature`` asked for them."""

    outcome: SearchOutcome
    options: SearchOptions
    record_id: int
    scores: dict[int, dict[str, float | None]] | None = None

    @property
    def query(self) -> dict[str, Any]:
        return self.outcome.source.describe()

    @property
    def feature(self) -> dict[str, Any]:
        outcome = self.outcome
        return {
            "id": outcome.feature.pk,
            "modelzoo_name": outcome.feature.modelzoo_name,
            "index_type": outcome.index.index_type,
            "index_version": outcome.index.version,
        }

    @property
    def index_count(self) -> int:
        return self.outcome.index.count

    @property
    def offset(self) -> int:
        return self.options.offset

    @property
    def limit(self) -> int:
        return self.options.limit

    @property
    def has_more(self) -> bool:
        return not self.outcome.exhausted

    @property
    def results(self) -> list[dict[str, Any]]:
        """The page, ranked from offset + 1. A media deleted between ranking and loading
        is dropped, never replaced by another."""
        rows = []
        for i, hit in enumerate(self.outcome.hits):
            media = self.outcome.media.get(hit.media_id)
            if media is None:
                continue
            row = {"rank": self.options.offset + i + 1, "score": round(hit.score, 6), **self._match(hit.media_id), "media": media}
            if self.scores is not None:
                row["scores"] = self.scores[hit.media_id]
            rows.append(row)
        return rows

    def _match(self, media_id: int) -> dict[str, Any]:
        match = self.outcome.matches.get(media_id)
        if match is None:
            return {"match": "similar", "region": None, "query_region": None, "verified": False}
        return match.as_dict()

    @property
    def detections(self) -> dict | None:
        return self.outcome.detections

    @property
    def timing_ms(self) -> dict[str, float]:
        return self.outcome.timing_ms


class SearchResultSerializer(serializers.Serializer):
    record_id = serializers.IntegerField(help_text="Id of this search's record; pass it as search_record when adding a hit to a collection.")
    query = SearchQueryInfoSerializer()
    feature = SearchFeatureSerializer()
    index_count = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    has_more = serializers.BooleanField()
    results = SearchHitSerializer(many=True)
    detections = DetectionsSerializer(allow_null=True)
    timing_ms = serializers.DictField(child=serializers.FloatField())

    def to_representation(self, instance: SearchAnswer) -> dict[str, Any]:
        """What DRF's field-by-field rendering of the fields above gives (a test holds
        them equal), built directly: DRF copies and binds every nested field of the
        answer for each request, which cost more than the search's k-NN."""
        context = self.context
        media = MediaSerializer(context=context)
        query = instance.query
        query_media, upload = query["media"], query["upload"]
        results = []
        for row in instance.results:
            hit = {"rank": int(row["rank"]), "score": float(row["score"])}
            if "scores" in row:
                hit["scores"] = {str(k): _float_or_none(v) for k, v in row["scores"].items()}
            hit.update(
                match=row["match"],
                region=_floats_or_none(row["region"]),
                query_region=_floats_or_none(row["query_region"]),
                verified=bool(row["verified"]),
                media=media.to_representation(row["media"]),
            )
            results.append(hit)
        detections = instance.detections
        feature = instance.feature
        return {
            "record_id": int(instance.record_id),
            "query": {
                "type": query["type"],
                "seed": None if query["seed"] is None else str(query["seed"]),
                "media": None if query_media is None else media.to_representation(query_media),
                "upload": None if upload is None else UploadSerializer(context=context).to_representation(upload),
                "box": _floats_or_none(query["box"]),
            },
            "feature": {
                "id": int(feature["id"]),
                "modelzoo_name": str(feature["modelzoo_name"]),
                "index_type": str(feature["index_type"]),
                "index_version": int(feature["index_version"]),
            },
            "index_count": int(instance.index_count),
            "offset": int(instance.offset),
            "limit": int(instance.limit),
            "has_more": bool(instance.has_more),
            "results": results,
            "detections": None
            if detections is None
            else {
                "model": str(detections["model"]),
                "items": [
                    {"label": str(d["label"]), "label_id": int(d["label_id"]), "score": float(d["score"]), "box": [float(v) for v in d["box"]]}
                    for d in detections["items"]
                ],
            },
            "timing_ms": {str(k): _float_or_none(v) for k, v in instance.timing_ms.items()},
        }


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def _floats_or_none(values) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


class SearchLoadSerializer(serializers.Serializer):
    """The feature now searched by default, or the detection model now selected; keys
    that do not apply are left out."""

    feature_id = serializers.IntegerField(source="pk", required=False)
    modelzoo_name = serializers.CharField(required=False)
    index_version = serializers.IntegerField(required=False)
    detection_model = serializers.CharField(required=False)


class LoadedIndexSerializer(serializers.Serializer):
    feature_id = serializers.IntegerField()
    version = serializers.IntegerField()
    index_type = serializers.CharField()
    count = serializers.IntegerField()
    dim = serializers.IntegerField()
    params = serializers.DictField()
    memory_bytes = serializers.IntegerField()


class SearchInfoSerializer(serializers.Serializer):
    default_feature = serializers.DictField(allow_null=True)
    model = serializers.DictField(allow_null=True)
    detection_model = serializers.CharField(allow_null=True)
    loaded = LoadedIndexSerializer(many=True)
    process_memory_bytes = serializers.IntegerField()


class SearchRecordSerializer(serializers.Serializer):
    """One logged search (search_app.query.records.search_record_as_dict)."""

    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    user_id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField()
    route = serializers.CharField()
    query = serializers.DictField()
    feature_id = serializers.IntegerField()
    modelzoo_name = serializers.CharField()
    weights_checksum = serializers.CharField()
    index_type = serializers.CharField()
    index_version = serializers.IntegerField()
    params = serializers.DictField()
    results = serializers.ListField(child=serializers.DictField())
    rerun = serializers.CharField(help_text="API path and query string that asks the same search again.")


class SearchRecordFilterSerializer(serializers.Serializer):
    user = IdField(required=False)
    media = IdField(required=False)

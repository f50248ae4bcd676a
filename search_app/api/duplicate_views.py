"""Near-duplicate groups: start a run, browse and export the latest one, and one media's group.

Thin views over search_app.analysis.duplicates. A run is a task (``find_duplicates``) listed
with the user's tasks; curators may start it, since it only reads the index.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.ids import IdField, id_or_404
from core.api.schema import error_response
from core.errors import InvalidInput
from media_app.models import Media
from media_app.selectors import media_get
from search_app.analysis import duplicates
from search_app.api.duplicate_serializers import DuplicateGroupsPageSerializer, DuplicateReviewSerializer, MediaDuplicatesSerializer
from search_app.selectors import feature_for_search, feature_get
from search_app.tasks import FindDuplicatesParams
from tasks_app.api.serializers import TaskStartedSerializer
from tasks_app.services import task_start

MAX_LIMIT = 200
MEMBERS_SHOWN = 50  # per group in a page; exports list every member


class RunStartSerializer(FindDuplicatesParams):
    """The parameters of the run the POST starts; its feature is the one in the path."""

    feature_id = None


class BrowseSerializer(serializers.Serializer):
    threshold = serializers.FloatField(min_value=duplicates.MIN_THRESHOLD, max_value=duplicates.MAX_THRESHOLD, required=False)
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=20)
    export = serializers.ChoiceField(choices=["csv", "json"], required=False)


class MediaDuplicatesParams(serializers.Serializer):
    feature = IdField(required=False)
    threshold = serializers.FloatField(min_value=duplicates.MIN_THRESHOLD, max_value=duplicates.MAX_THRESHOLD, required=False)


def _params(serializer_class, data):
    ser = serializer_class(data={k: v for k, v in data.items() if v != ""})
    if not ser.is_valid():
        raise InvalidInput("Invalid parameters.", fields=ser.errors)
    return ser.validated_data


def _export_csv(feature_id: int, threshold: float, groups) -> HttpResponse:
    """Every group and member (no paging) as a CSV download."""
    response = HttpResponse("".join(duplicates.duplicate_groups_csv(groups)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="feature-{feature_id}-duplicates-{threshold:g}.csv"'
    return response


class FeatureDuplicatesView(APIView):
    """GET: the latest run's groups, largest first (paged; ``export=csv|json`` downloads
    all of them). POST: start a new run as a task."""

    @extend_schema(
        summary="Near-duplicate groups of a feature (latest run)",
        parameters=[
            OpenApiParameter("threshold", OpenApiTypes.FLOAT, description="Browse at this cosine similarity (default: the run's; not below it)."),
            OpenApiParameter("offset", OpenApiTypes.INT),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"Groups per page (default 20, at most {MAX_LIMIT})."),
            OpenApiParameter(
                "export",
                OpenApiTypes.STR,
                enum=["csv", "json"],
                description="Download every group and member: CSV rows, or this answer with all groups (offset 0, limit = count).",
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/json"): DuplicateGroupsPageSerializer,
            400: error_response("Bad threshold, offset, limit or export, or a threshold below the run's."),
            404: error_response("No such feature."),
        },
    )
    def get(self, request, id: int):
        feature = feature_get(feature_id=id_or_404(id))
        p = _params(BrowseSerializer, request.query_params)
        run, threshold, groups, _ = duplicates.duplicate_groups(feature_id=feature.pk, threshold=p.get("threshold"))
        if p.get("export") == "csv":
            return _export_csv(feature.pk, threshold, groups)
        # export=json: the same answer as a page, with every group and every member.
        everything = p.get("export") == "json"
        offset, limit = (0, len(groups)) if everything else (p["offset"], p["limit"])
        shown_per_group = None if everything else MEMBERS_SHOWN
        page = groups[offset : offset + limit]
        shown = [m for g in page for m in g.media_ids[:shown_per_group]]
        media = {m.pk: m for m in Media.objects.filter(pk__in=shown)}
        answer = DuplicateGroupsPageSerializer(
            {
                "feature_id": feature.pk,
                "run": run,
                "threshold": threshold,
                "default_threshold": duplicates.default_threshold(feature.modelzoo_name),
                "count": len(groups),
                "offset": offset,
                "limit": limit,
                "results": page,
            },
            context={"request": request, "media": media, "members_shown": shown_per_group, "reviews": duplicates.duplicate_reviews(feature_id=feature.pk)},
        )
        response = Response(answer.data)
        if everything:
            response["Content-Disposition"] = f'attachment; filename="feature-{feature.pk}-duplicates-{threshold:g}.json"'
        return response

    @extend_schema(
        summary="Start a near-duplicate run for a feature",
        request=RunStartSerializer,
        responses={
            202: TaskStartedSerializer,
            400: error_response("Bad threshold or k."),
            404: error_response("No such feature."),
            503: error_response("The task queue cannot be reached."),
        },
    )
    def post(self, request, id: int):
        feature = feature_get(feature_id=id_or_404(id))
        p = _params(RunStartSerializer, request.data)
        run = task_start(name="find_duplicates", params={"feature_id": feature.pk, **p}, user=request.user)
        return Response(TaskStartedSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ReviewSerializer(serializers.Serializer):
    media_ids = serializers.ListField(child=IdField(), min_length=2, max_length=10_000, help_text="Every member of the group (media_ids of the group).")
    reviewed = serializers.BooleanField(default=True, help_text="false takes the review back.")
    keep = IdField(required=False, allow_null=True, help_text="The member to keep; the others are its copies (nothing is deleted).")


class FeatureDuplicateReviewView(APIView):
    """POST: mark a near-duplicate group reviewed (and which member to keep), or not."""

    @extend_schema(
        summary="Mark a near-duplicate group reviewed",
        request=ReviewSerializer,
        responses={
            200: DuplicateReviewSerializer(allow_null=True),
            400: error_response("Fewer than two media, an unknown media, or keep not in the group."),
            404: error_response("No such feature."),
        },
    )
    def post(self, request, id: int):
        feature = feature_get(feature_id=id_or_404(id))
        body = ReviewSerializer(data=request.data)
        if not body.is_valid():
            raise InvalidInput("Invalid review.", fields=body.errors)
        data = body.validated_data
        review = duplicates.duplicate_review_set(
            feature=feature, media_ids=data["media_ids"], reviewed=data["reviewed"], keep=data.get("keep"), username=request.user.get_username()
        )
        return Response(DuplicateReviewSerializer(review).data if review else None)


class MediaDuplicatesView(APIView):
    """The near-duplicates of one media: its group in the latest run of a feature."""

    @extend_schema(
        summary="A media's near-duplicates (its group in the feature's latest run)",
        parameters=[
            OpenApiParameter("feature", OpenApiTypes.INT, description="Feature whose run to read (default: the search default)."),
            OpenApiParameter("threshold", OpenApiTypes.FLOAT, description="At this cosine similarity (default: the run's; not below it)."),
        ],
        responses={
            200: MediaDuplicatesSerializer,
            400: error_response("Bad feature or threshold."),
            404: error_response("No such media or feature."),
            409: error_response("No feature is ready (when none is named)."),
        },
    )
    def get(self, request, id: int):
        media = media_get(media_id=id_or_404(id))
        p = _params(MediaDuplicatesParams, request.query_params)
        feature = feature_get(feature_id=p["feature"]) if "feature" in p else feature_for_search()
        run, threshold, group, scores = duplicates.media_duplicates(feature=feature, media_id=media.pk, threshold=p.get("threshold"))
        others = [m for m in (group.media_ids if group else ()) if m != media.pk]
        rows = {m.pk: m for m in Media.objects.filter(pk__in=others)}
        ordered = sorted((m for m in others if m in rows), key=lambda m: (-(scores.get(m) if scores.get(m) is not None else -2.0), m))
        answer = MediaDuplicatesSerializer(
            {
                "media_id": media.pk,
                "feature_id": feature.pk,
                "run": run,
                "threshold": threshold,
                "group": group.number if group else None,
                "size": group.size if group else 0,
                "results": [{"score": scores.get(m), "media": rows[m]} for m in ordered],
            },
            context={"request": request},
        )
        return Response(answer.data)

"""Stored detections: media by label (search/detections/), and one media's boxes."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.ids import id_or_404
from core.api.schema import error_responses
from core.errors import NotFound
from media_app.models import Media
from search_app.api.detection_serializers import DetectionSearchResultSerializer, MediaDetectionsSerializer, parse_detection_search_params
from search_app.detection.selectors import detection_search, media_detections

DETECTION_SEARCH_PARAMS = [
    OpenApiParameter("label", OpenApiTypes.STR, required=True, description="The label, as the detection model's label file spells it."),
    OpenApiParameter("min_score", OpenApiTypes.FLOAT, description="Only boxes scoring at least this (0..1, default 0)."),
    OpenApiParameter("model", OpenApiTypes.STR, description="Only boxes of this detection model."),
    OpenApiParameter("media_type", OpenApiTypes.STR, enum=["image", "video_frame"]),
    OpenApiParameter("collection", OpenApiTypes.INT, description="Only media in this collection."),
    OpenApiParameter("offset", OpenApiTypes.INT, description="Results to skip."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Results per page (default 30, at most 200)."),
]


class DetectionSearchView(APIView):
    """Images and video keyframes with a stored box of a label, best score first."""

    @extend_schema(
        summary="Search stored detections by label",
        parameters=DETECTION_SEARCH_PARAMS,
        responses={200: DetectionSearchResultSerializer, **error_responses({400: "A parameter is missing or out of range (error.fields names it)."}, 400)},
    )
    def get(self, request):
        page = detection_search(**parse_detection_search_params(request.query_params))
        return Response(DetectionSearchResultSerializer(page, context={"request": request}).data)


class MediaDetectionsView(APIView):
    """The boxes every detection feature stored for one media (for a video: none; its
    keyframes have their own)."""

    @extend_schema(summary="Stored detections of a media", responses={200: MediaDetectionsSerializer, **error_responses({404: "No media with that id."}, 404)})
    def get(self, request, id: int):
        media_id = id_or_404(id)
        if not Media.objects.filter(pk=media_id).exists():
            raise NotFound(f"No media with id {media_id}.")
        items = media_detections(media_ids=[media_id])[media_id]
        return Response(MediaDetectionsSerializer({"media_id": media_id, "items": items}).data)

"""Feature API: validate, call a selector or service, serialize."""

from __future__ import annotations

from functools import partial

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from core.api.pagination import OffsetLimitPagination
from core.api.permissions import IsStaffOrReadOnly
from core.api.schema import error_responses
from search_app.api.feature_serializers import FeatureCreateSerializer, FeatureDeletedSerializer, FeatureSerializer, FeatureUpdateSerializer
from search_app.models import Feature
from search_app.selectors import feature_get, feature_list
from search_app.services import feature_create, feature_delete, feature_update

_errors = partial(
    error_responses,
    {
        400: "Invalid input: unknown model or index type, bad index parameters, bad paging values (per-field messages in error.fields).",
        403: "Only staff may create, change or delete features.",
        404: "No such feature.",
        409: "The model of a feature that already holds vectors cannot change; create a new feature.",
        503: "The model's weights are not on this machine (error.code weights_missing; the message says how to get them).",
    },
)


_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Feature id")


class FeatureViewSet(viewsets.GenericViewSet):
    """Features: an embedding model plus the index built from it over all media.

    Creating one schedules its build; status moves pending → building → ready (or
    failed, with the error). Changing the index type or parameters rebuilds the index
    from the stored vectors without running the model again.
    """

    queryset = Feature.objects.none()
    serializer_class = FeatureSerializer
    # The routes name the id "id": DRF's OPTIONS answer calls get_object() for PUT and
    # failed with an AssertionError (500) looking for "pk".
    lookup_url_kwarg = "id"
    pagination_class = OffsetLimitPagination
    # Features decide what every search answers and cost a full embedding pass.
    permission_classes = [IsStaffOrReadOnly]
    staff_only_message = "Only staff may create, change or delete features: they decide what every search answers."

    @extend_schema(summary="List features", responses={200: FeatureSerializer(many=True), **_errors(400)})
    def list(self, request):
        page = self.paginate_queryset(feature_list())
        return self.get_paginated_response(FeatureSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a feature and schedule its index build",
        request=FeatureCreateSerializer,
        responses={201: FeatureSerializer, **_errors(400, 503)},
    )
    def create(self, request):
        data = FeatureCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        feature = feature_create(
            modelzoo_name=fields["modelzoo_name"],
            index_type=fields["index_type"],
            index_params=fields.get("index_params"),
            active=fields["active"],
            user=request.user,
            username=fields.get("username") or request.user.username,
        )
        return Response(FeatureSerializer(feature).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Fetch a feature", parameters=[_ID], responses={200: FeatureSerializer, **_errors(404)})
    def retrieve(self, request, id: int):
        return Response(FeatureSerializer(feature_get(feature_id=id)).data)

    @extend_schema(
        summary="Update a feature",
        parameters=[_ID],
        request=FeatureUpdateSerializer,
        responses={200: FeatureSerializer, **_errors(400, 404, 409, 503)},
    )
    def update(self, request, id: int):
        feature = feature_get(feature_id=id)
        data = FeatureUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feature = feature_update(feature=feature, **data.validated_data)
        return Response(FeatureSerializer(feature).data)

    @extend_schema(summary="Delete a feature, its vectors and index", parameters=[_ID], responses={200: FeatureDeletedSerializer, **_errors(403, 404)})
    def destroy(self, request, id: int):
        feature = feature_get(feature_id=id)
        feature_delete(feature=feature)
        return Response(FeatureDeletedSerializer({"id": id, "deleted": True}).data)

"""Model zoo API: the registry with whether each model's weights are on this machine."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import error_responses

from ..selectors import modelzoo_get, modelzoo_list
from .serializers import ModelDetailSerializer, ModelSerializer


class ModelzooListView(APIView):
    """Every model: embedding models (timm) first, then detectors (torchvision)."""

    @extend_schema(summary="List models", responses={200: ModelSerializer(many=True), **error_responses({})})
    def get(self, request):
        return Response(ModelSerializer(modelzoo_list(), many=True).data)


class ModelzooDetailView(APIView):
    """One model by name; detectors include their label list."""

    @extend_schema(
        summary="Fetch a model by name",
        parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Model zoo name")],
        responses={
            200: ModelDetailSerializer,
            **error_responses({404: "No model of that name."}, 404),
        },
    )
    def get(self, request, name: str):
        return Response(ModelDetailSerializer(modelzoo_get(name=name)).data)

"""Model zoo API: the registry with whether each model's weights are on this machine."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors import modelzoo_get, modelzoo_list
from .serializers import ModelDetailSerializer, ModelSerializer

_ERROR = inline_serializer(
    "ModelzooErrorEnvelope",
    fields={
        "status": serializers.ChoiceField(choices=["error"]),
        "error": inline_serializer("ModelzooError", fields={"code": serializers.CharField(), "message": serializers.CharField()}),
    },
)


class ModelzooListView(APIView):
    """Every model: embedding models (timm) first, then detectors (torchvision)."""

    @extend_schema(summary="List models", responses={200: ModelSerializer(many=True), 401: OpenApiResponse(_ERROR, description="Not authenticated.")})
    def get(self, request):
        return Response(modelzoo_list())


class ModelzooDetailView(APIView):
    """One model by name; detectors include their label list."""

    @extend_schema(
        summary="Fetch a model by name",
        parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Model zoo name")],
        responses={
            200: ModelDetailSerializer,
            401: OpenApiResponse(_ERROR, description="Not authenticated."),
            404: OpenApiResponse(_ERROR, description="No model of that name."),
        },
    )
    def get(self, request, name: str):
        return Response(modelzoo_get(name=name))

"""Collection API: thin views over collections_app.services and selectors.

Routes (under /api/v1/collection/, see urls.py): list/create, get/put/patch/delete,
export (a streamed ZIP), add media, remove media.
"""

from __future__ import annotations

from functools import partial

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from core.api.pagination import OffsetLimitPagination, parse_list_params
from core.api.permissions import IsOwnerOrStaff
from core.api.schema import error_responses
from core.errors import InvalidInput
from media_app.models import MediaType
from media_app.selectors import media_type_validate

from .. import selectors, services
from ..evidence import export_queries
from ..export import collection_export_stream, export_detections, export_filename, export_words
from ..models import Collection
from .serializers import (
    ArchivedFilterSerializer,
    CollectionAddMediaSerializer,
    CollectionDeletedSerializer,
    CollectionDetailSerializer,
    CollectionMediaRemovedSerializer,
    CollectionMembershipSerializer,
    CollectionSerializer,
    CollectionWriteSerializer,
)

# --- schema helpers ------------------------------------------------------------------------

_errors = partial(
    error_responses,
    {
        400: "Invalid input (per-field messages in error.fields) or malformed JSON.",
        404: "No such collection (or media).",
        409: "The collection is archived: unarchive it first (PATCH archived=false).",
        415: "The body is not JSON.",
    },
)


_ID_PARAM = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Collection id")
_MEDIA_ID_PARAM = OpenApiParameter("media_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Media id")
_ITEMS_PARAMS = [
    OpenApiParameter("offset", OpenApiTypes.INT, description="Items: first item to return (default 0)"),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Items: how many to return"),
    OpenApiParameter("sort", OpenApiTypes.STR, enum=["date", "id"], description="Items: by membership id or by when they were added"),
    OpenApiParameter("order", OpenApiTypes.STR, enum=["asc", "desc"]),
    OpenApiParameter("media_type", OpenApiTypes.STR, enum=MediaType.values, description="Items: only media of this type (items.count counts these)."),
]


# --- streaming ---------------------------------------------------------------------------


class ZipStreamingResponse(StreamingHttpResponse):
    """Streams a synchronous chunk iterator under ASGI too, one chunk at a time.

    Django's ASGI handler would otherwise collect a sync iterator into a list before
    sending (the whole ZIP in memory); here each ``next()`` runs in the sync thread.
    """

    async def __aiter__(self):
        iterator = iter(self.streaming_content)
        done = object()
        while (chunk := await sync_to_async(next, thread_sensitive=True)(iterator, done)) is not done:
            yield chunk


class JSONOnlyNegotiation(BaseContentNegotiation):
    """The export answers a ZIP whatever the Accept header says, and its errors are
    JSON envelopes: negotiation must neither 406 nor pick a renderer for the ZIP."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


# --- views ------------------------------------------------------------------------------


def _attributed_username(request, requested: str | None, *, current: str | None = None) -> str | None:
    """Who a write is attributed to. Everyone may use their own name (the default) or
    keep the current one; only staff may attribute to someone else."""
    own = request.user.get_username()
    if requested is None:
        return None if current is not None else own
    if requested == "":
        return own
    if requested not in (own, current) and not request.user.is_staff:
        raise InvalidInput("Only staff may attribute to another user.", fields={"username": ["Only staff may attribute to another user."]})
    return requested


def _bool_param(request) -> bool | None:
    raw = request.query_params.get("archived")
    if raw in (None, ""):
        return None
    params = ArchivedFilterSerializer(data={"archived": raw.lower()})
    params.is_valid(raise_exception=True)
    return params.validated_data["archived"] == "true"


_OWNER_ACTIONS = frozenset({"update", "partial_update", "destroy", "add_media", "remove_media"})


class CollectionViewSet(viewsets.GenericViewSet):
    """Collections of media, their items, and their export."""

    queryset = Collection.objects.all()  # for the schema's path types; reads go through selectors
    serializer_class = CollectionSerializer
    pagination_class = OffsetLimitPagination
    parser_classes = [JSONParser]
    owner_or_staff_message = "Only the collection's creator or staff may change it."

    def get_permissions(self):
        # Every curator reads and exports every collection; changing one (its fields, its
        # items, deleting it) would rewrite someone else's curation, so only its creator
        # or staff may.
        if self.action in _OWNER_ACTIONS:
            return [IsOwnerOrStaff()]
        return super().get_permissions()

    def get_content_negotiator(self):
        # Also asked for before self.action is set (while the request is wrapped), and
        # by the schema generator without a request.
        request = getattr(self, "request", None)
        action = getattr(self, "action", None) or (self.action_map.get(request.method.lower()) if request is not None else None)
        if action == "export":
            return JSONOnlyNegotiation()
        return super().get_content_negotiator()

    def _detail(self, request, collection_id: int, *, query_params=None) -> dict:
        """The collection with one page of its items. Writes answer with the first page
        (their query string is not read: a bad one must not fail a committed write)."""
        collection = selectors.collection_get(collection_id=collection_id)
        query_params = query_params or {}
        params = parse_list_params(query_params)
        media_type = media_type_validate(query_params.get("media_type"))
        items = selectors.collection_items(collection=collection, sort=params["sort"], order=params["order"], media_type=media_type)
        offset, limit = params["offset"], params["limit"]
        count = items.count() if media_type else collection.item_count
        page = {**params, "count": count, "results": list(items[offset : offset + limit])}
        return CollectionDetailSerializer(collection, context={"request": request, "items_page": page}).data

    @extend_schema(
        summary="List collections",
        parameters=[OpenApiParameter("archived", OpenApiTypes.STR, enum=["true", "false"], description="Only archived, or only active, collections")],
        responses={200: CollectionSerializer(many=True), **_errors(400)},
    )
    def list(self, request):
        queryset = selectors.collection_list(archived=_bool_param(request))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(CollectionSerializer(page, many=True).data)

    @extend_schema(summary="Create a collection", request=CollectionWriteSerializer, responses={201: CollectionDetailSerializer, **_errors(400, 415)})
    def create(self, request):
        body = CollectionWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        collection = services.collection_create(
            title=data["title"],
            notes=data.get("notes", ""),
            archived=data.get("archived", False),
            user=request.user,
            username=_attributed_username(request, data.get("username")),
        )
        return Response(self._detail(request, collection.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Fetch a collection with a page of its items",
        parameters=[_ID_PARAM, *_ITEMS_PARAMS],
        responses={200: CollectionDetailSerializer, **_errors(400, 404)},
    )
    def retrieve(self, request, pk: int):
        return Response(self._detail(request, pk, query_params=request.query_params))

    @extend_schema(
        summary="Update a collection (any subset of the fields)",
        parameters=[_ID_PARAM],
        request=CollectionWriteSerializer(partial=True),
        responses={200: CollectionDetailSerializer, **_errors(400, 404, 409, 415)},
    )
    def update(self, request, pk: int):
        collection = selectors.collection_get(collection_id=pk)
        self.check_object_permissions(request, collection)
        body = CollectionWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        if "username" in fields:
            fields["username"] = _attributed_username(request, fields["username"], current=collection.username)
        if fields:
            services.collection_update(collection=collection, **fields)
        return Response(self._detail(request, pk))

    partial_update = update

    @extend_schema(summary="Delete a collection (its media stay)", parameters=[_ID_PARAM], responses={200: CollectionDeletedSerializer, **_errors(404, 409)})
    def destroy(self, request, pk: int):
        collection = selectors.collection_get(collection_id=pk)
        self.check_object_permissions(request, collection)
        services.collection_delete(collection=collection)
        return Response(CollectionDeletedSerializer({"id": pk, "deleted": True}).data)

    @extend_schema(
        operation_id="collection_export",
        summary="Export a collection as a ZIP",
        description=(
            "Streams a ZIP: the original files under media/, the query images of the searches that found them under queries/, "
            "manifest.json, manifest.csv, report.md, report.html (with thumbnails), searches.json and detections.json."
        ),
        parameters=[_ID_PARAM],
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The ZIP archive."), **_errors(404)},
    )
    def export(self, request, pk: int):
        collection = selectors.collection_get(collection_id=pk)
        # Read every row now: the stream then only touches storage, whatever thread or
        # event loop ends up consuming it.
        items = list(selectors.collection_items(collection=collection))
        now = timezone.now()
        response = ZipStreamingResponse(
            collection_export_stream(
                collection=collection,
                items=items,
                exported_by=request.user.get_username(),
                now=now,
                detections=export_detections(items),
                words=export_words(items),
                queries=export_queries(items),
            ),
            content_type="application/zip",
        )
        response["Content-Disposition"] = content_disposition_header(True, export_filename(collection=collection, now=now))
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(
        operation_id="collection_media_add",
        summary="Add media to a collection",
        parameters=[_ID_PARAM],
        request=CollectionAddMediaSerializer,
        responses={
            201: OpenApiResponse(CollectionMembershipSerializer, description="Added."),
            200: OpenApiResponse(CollectionMembershipSerializer, description="Already in the collection; the existing membership."),
            **_errors(400, 404, 409, 415),
        },
    )
    def add_media(self, request, pk: int):
        collection = selectors.collection_get(collection_id=pk)
        self.check_object_permissions(request, collection)
        body = CollectionAddMediaSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        media = selectors.media_get(media_id=body.validated_data["media_id"])
        membership, created = services.collection_add_media(
            collection=collection,
            media=media,
            user=request.user,
            username=_attributed_username(request, body.validated_data.get("username")),
            search_record_id=body.validated_data.get("search_record"),
        )
        return Response(
            CollectionMembershipSerializer(membership, context={"request": request}).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        operation_id="collection_media_remove",
        summary="Remove media from a collection",
        parameters=[_ID_PARAM, _MEDIA_ID_PARAM],
        responses={200: CollectionMediaRemovedSerializer, **_errors(404, 409)},
    )
    def remove_media(self, request, pk: int, media_id: int):
        collection = selectors.collection_get(collection_id=pk)
        self.check_object_permissions(request, collection)
        services.collection_remove_media(collection=collection, media=media_id)
        return Response(CollectionMediaRemovedSerializer({"deleted": True}).data)

"""Media and Upload API: validate, call a selector or service, serialize.

Routes are mapped explicitly in urls.py/upload_urls.py (not by a router) so the paths
are exactly those of the API document.
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core.api.pagination import OffsetLimitPagination
from core.api.permissions import IsOwnerOrStaff, IsStaff
from core.api.schema import error_responses
from core.api.throttles import ScopedRateThrottle
from core.errors import PayloadTooLarge

from ..models import Media, MediaType, Upload
from ..selectors import media_get, media_get_by_sha256, media_info, media_list, media_random, media_siblings_window, upload_get, upload_list
from ..services import media_delete, upload_create, upload_delete
from .serializers import (
    DeletedSerializer,
    MediaDetailSerializer,
    MediaInfoSerializer,
    MediaSerializer,
    UploadCreateSerializer,
    UploadSerializer,
)

# Room for the multipart boundaries and the small form fields around the file.
_MULTIPART_OVERHEAD = 64 * 1024

_ERROR_DESCRIPTIONS = {
    400: "Invalid input (paging parameters, filters, form fields or a corrupt image).",
    403: "Not allowed for this user.",
    404: "No such record.",
    413: "File or image dimensions above the configured limits.",
    415: "Not an image in an accepted format, or a body that is not multipart.",
    507: "The server's storage is full: nothing was stored; try again once space is freed.",
}
_errors = partial(error_responses, _ERROR_DESCRIPTIONS)


_MEDIA_TYPE_PARAM = OpenApiParameter(
    "media_type",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=False,
    enum=MediaType.values,
    description="Only media of this type.",
)


class MediaViewSet(viewsets.GenericViewSet):
    """The collection's media: list, one by id or sha256, a random one, totals.
    Deleting is for staff: it removes files and index entries for everyone."""

    queryset = Media.objects.none()  # schema generation reads the model from it
    serializer_class = MediaSerializer
    pagination_class = OffsetLimitPagination
    staff_only_message = "Only staff may delete media: it removes the files and index entries for everyone."

    def get_permissions(self):
        if self.action == "destroy":
            return [IsStaff()]
        return super().get_permissions()

    def _detail(self, media: Media) -> Response:
        siblings, count = media_siblings_window(media=media, limit=settings.MAX_SIBLINGS)
        context = {**self.get_serializer_context(), "siblings": siblings, "siblings_count": count}
        return Response(MediaDetailSerializer(media, context=context).data)

    @extend_schema(summary="List media", parameters=[_MEDIA_TYPE_PARAM], responses={200: MediaSerializer(many=True), **_errors(400)})
    def list(self, request):
        """Media in pages of ``limit`` from ``offset``, sorted by id or date."""
        queryset = media_list(media_type=request.query_params.get("media_type"))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="Fetch a media by id", responses={200: MediaDetailSerializer, **_errors(404)})
    def retrieve(self, request, id: int):
        """One media with ``siblings``: the other frames of the same video."""
        return self._detail(media_get(media_id=id))

    @extend_schema(summary="Fetch a media by sha256", responses={200: MediaDetailSerializer, **_errors(400, 404)})
    def retrieve_by_sha256(self, request, sha256: str):
        """One media by the sha256 of its bytes, with ``siblings``."""
        return self._detail(media_get_by_sha256(sha256=sha256))

    @extend_schema(summary="Delete a media (staff)", responses={200: DeletedSerializer, **_errors(403, 404)})
    def destroy(self, request, id: int):
        """Delete a media, its files and index entries; a video takes its frames along."""
        media = media_get(media_id=id)
        media_delete(media=media)
        return Response(DeletedSerializer({"id": id, "deleted": True}).data)

    @extend_schema(summary="Counts of stored media and free disk space", responses={200: MediaInfoSerializer, **_errors()})
    def info(self, request):
        """Counts by media type, uploads, collections, features; bytes stored; disk space."""
        return Response(MediaInfoSerializer(media_info()).data)

    @extend_schema(
        summary="Fetch a random media",
        parameters=[_MEDIA_TYPE_PARAM],
        responses={200: MediaDetailSerializer, **_errors(400, 404)},
    )
    def random(self, request):
        """One media picked at random (optionally of one ``media_type``)."""
        return self._detail(media_random(media_type=request.query_params.get("media_type")))


class UploadViewSet(viewsets.GenericViewSet):
    """Query images people upload to search with. The same bytes are stored once: a
    repeated upload answers 200 with the existing record, a new one 201."""

    queryset = Upload.objects.none()  # schema generation reads the model from it
    serializer_class = UploadSerializer
    pagination_class = OffsetLimitPagination
    # Files only: a JSON body is a 415, never a base64 image in a string.
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "upload"
    owner_or_staff_message = "Only the uploader or staff may delete an upload."

    def get_permissions(self):
        if self.action == "destroy":
            return [IsOwnerOrStaff()]
        return super().get_permissions()

    def get_throttles(self):
        # Storing and decoding is what costs; reading the list is not limited.
        return [ScopedRateThrottle()] if self.action == "create" else []

    @extend_schema(summary="List uploads", responses={200: UploadSerializer(many=True), **_errors(400)})
    def list(self, request):
        """Uploads in pages of ``limit`` from ``offset``, sorted by id or date."""
        page = self.paginate_queryset(upload_list())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Upload a query image",
        request={"multipart/form-data": UploadCreateSerializer},
        responses={
            201: OpenApiResponse(UploadSerializer, description="Stored a new upload."),
            200: OpenApiResponse(UploadSerializer, description="These bytes were uploaded before: the existing record."),
            **_errors(400, 413, 415, 507),
        },
    )
    def create(self, request):
        """Upload an image (multipart field ``image``) to search with. It is validated by
        decoding: not an image 415, corrupt 400, too many bytes or pixels 413."""
        # Refuse an oversized body before the multipart parser spools it to disk.
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > settings.MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD:
            raise PayloadTooLarge(f"Request body is {declared} bytes, above the upload limit of {settings.MAX_UPLOAD_BYTES} bytes.")
        form = UploadCreateSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        image = form.validated_data["image"]
        upload, created = upload_create(
            stream=image,
            original_name=image.name or "",
            user=request.user,
            username=form.validated_data.get("username") or request.user.username,
        )
        return Response(self.get_serializer(upload).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(summary="Fetch an upload", responses={200: UploadSerializer, **_errors(404)})
    def retrieve(self, request, id: int):
        """One upload."""
        return Response(self.get_serializer(upload_get(upload_id=id)).data)

    @extend_schema(summary="Delete an upload (its owner or staff)", responses={200: DeletedSerializer, **_errors(403, 404)})
    def destroy(self, request, id: int):
        """Delete an upload and its files: the uploader or staff only."""
        upload = upload_get(upload_id=id)
        self.check_object_permissions(request, upload)
        upload_delete(upload=upload)
        return Response(DeletedSerializer({"id": id, "deleted": True}).data)

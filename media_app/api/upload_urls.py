"""/api/v1/upload/...: explicit paths, exactly those of the API document."""

from __future__ import annotations

from django.urls import path

from .views import UploadViewSet

urlpatterns = [
    path("", UploadViewSet.as_view({"get": "list", "post": "create"}), name="upload-list"),
    path("<int:id>/", UploadViewSet.as_view({"get": "retrieve", "delete": "destroy"}), name="upload-detail"),
]

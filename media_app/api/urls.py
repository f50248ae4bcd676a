"""/api/v1/media/...: explicit paths, exactly those of the API document."""

from __future__ import annotations

from django.urls import path

from search_app.api.duplicate_views import MediaDuplicatesView

from .views import MediaViewSet

urlpatterns = [
    path("", MediaViewSet.as_view({"get": "list"}), name="media-list"),
    path("id/<int:id>/", MediaViewSet.as_view({"get": "retrieve", "delete": "destroy"}), name="media-detail"),
    path("id/<int:id>/duplicates/", MediaDuplicatesView.as_view(), name="media-duplicates"),
    path("sha256/<str:sha256>/", MediaViewSet.as_view({"get": "retrieve_by_sha256"}), name="media-sha256"),
    path("info/", MediaViewSet.as_view({"get": "info"}), name="media-info"),
    path("random/", MediaViewSet.as_view({"get": "random"}), name="media-random"),
]

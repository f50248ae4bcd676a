"""/api/v1/media/...: explicit paths, exactly those of the API document (the search app
adds media/id/<id>/duplicates/ in ``search_app.api.media_urls``)."""

from __future__ import annotations

from django.urls import path

from .views import MediaViewSet

urlpatterns = [
    path("", MediaViewSet.as_view({"get": "list"}), name="media-list"),
    path("id/<int:id>/", MediaViewSet.as_view({"get": "retrieve", "delete": "destroy"}), name="media-detail"),
    path("sha256/<str:sha256>/", MediaViewSet.as_view({"get": "retrieve_by_sha256"}), name="media-sha256"),
    path("info/", MediaViewSet.as_view({"get": "info"}), name="media-info"),
    path("random/", MediaViewSet.as_view({"get": "random"}), name="media-random"),
]

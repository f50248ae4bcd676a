"""/api/v1/media/id/<id>/duplicates/: a media route answered by the search app (its
near-duplicate group), mounted beside the media app's own media routes."""

from __future__ import annotations

from django.urls import path

from search_app.api.duplicate_views import MediaDuplicatesView

urlpatterns = [
    path("id/<int:id>/duplicates/", MediaDuplicatesView.as_view(), name="media-duplicates"),
]

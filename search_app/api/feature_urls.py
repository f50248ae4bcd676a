"""/api/v1/feature/...: explicit paths, exactly those of the API document."""

from __future__ import annotations

from django.urls import path

from search_app.api.duplicate_views import FeatureDuplicateReviewView, FeatureDuplicatesView
from search_app.api.feature_views import FeatureViewSet

urlpatterns = [
    path("", FeatureViewSet.as_view({"get": "list", "post": "create"}), name="feature-list"),
    path("<int:id>/", FeatureViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}), name="feature-detail"),
    path("<int:id>/duplicates/", FeatureDuplicatesView.as_view(), name="feature-duplicates"),
    path("<int:id>/duplicates/review/", FeatureDuplicateReviewView.as_view(), name="feature-duplicates-review"),
]

"""/api/v1/modelzoo/...: explicit paths, exactly those of the API document."""

from __future__ import annotations

from django.urls import path

from .views import ModelzooDetailView, ModelzooListView

urlpatterns = [
    path("", ModelzooListView.as_view(), name="modelzoo-list"),
    path("name/<str:name>/", ModelzooDetailView.as_view(), name="modelzoo-detail"),
]

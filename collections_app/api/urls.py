"""Collection API routes, included at /api/v1/collection/. Explicit paths, so each
route is exactly the one in the API document (trailing slashes included)."""

from __future__ import annotations

from django.urls import path

from .views import CollectionViewSet

collections = CollectionViewSet.as_view({"get": "list", "post": "create"})
collection = CollectionViewSet.as_view({"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"})
collection_export = CollectionViewSet.as_view({"get": "export"})
collection_media = CollectionViewSet.as_view({"post": "add_media"})
collection_media_item = CollectionViewSet.as_view({"delete": "remove_media"})

urlpatterns = [
    path("", collections, name="collection-list"),
    path("<int:pk>/", collection, name="collection-detail"),
    path("<int:pk>/export/", collection_export, name="collection-export"),
    path("<int:pk>/media/", collection_media, name="collection-media"),
    path("<int:pk>/media/<int:media_id>/", collection_media_item, name="collection-media-item"),
]

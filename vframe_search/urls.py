"""Top-level URLs: the /api/v1 routes of the API document, the schema, admin, files, pages."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from core.api.views import api_not_found
from media_app.views import serve_file

api_v1 = [
    path("collection/", include("collections_app.api.urls")),
    path("media/", include("media_app.api.urls")),
    path("media/", include("search_app.api.media_urls")),
    path("upload/", include("media_app.api.upload_urls")),
    path("feature/", include("search_app.api.feature_urls")),
    path("search/", include("search_app.api.urls")),
    path("modelzoo/", include("modelzoo.api.urls")),
    path("task/", include("tasks_app.api.urls")),
    path("socket/", include("tasks_app.api.socket_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Split: its script is a file of its own, so the docs need no inline script (csp.py).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    re_path(r"^files/(?P<path>.+)$", serve_file, name="serve-file"),
    # The curators' pages, last: they own every path the API, admin and files do not.
    path("", include("vframe_search.web.urls")),
]

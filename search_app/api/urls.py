"""Search API: answered with a clear 501 until the search issue lands."""

from django.urls import re_path

from vframe_search.api.views import not_implemented

urlpatterns = [re_path(r"^.*$", not_implemented("Search"))]

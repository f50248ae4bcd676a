"""Task API routes, included at /api/v1/task/: those of the API document, then
recent/, <id>/ and <id>/cancel/ (the fixed names come first)."""

from __future__ import annotations

from django.urls import path

from .views import TaskViewSet

urlpatterns = [
    path("", TaskViewSet.as_view({"get": "list"}), name="task-list"),
    path("info/", TaskViewSet.as_view({"get": "info"}), name="task-info"),
    path("run/", TaskViewSet.as_view({"post": "run"}), name="task-run"),
    path("test/", TaskViewSet.as_view({"post": "test"}), name="task-test"),
    path("recent/", TaskViewSet.as_view({"get": "recent"}), name="task-recent"),
    path("<str:task_id>/", TaskViewSet.as_view({"get": "retrieve"}), name="task-detail"),
    path("<str:task_id>/cancel/", TaskViewSet.as_view({"post": "cancel"}), name="task-cancel"),
]

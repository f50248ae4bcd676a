"""Page routes, included at the site root after /api/, /admin/ and /files/."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "web"

urlpatterns = [
    path("", views.SearchPageView.as_view(), name="search"),
    path("login/", views.SiteLoginView.as_view(), name="login"),
    path("logout/", views.SiteLogoutView.as_view(), name="logout"),
    path("media/<int:media_id>/", views.MediaPageView.as_view(), name="media"),
    path("collections/", views.CollectionsPageView.as_view(), name="collections"),
    path("collections/<int:collection_id>/", views.CollectionPageView.as_view(), name="collection"),
    path("collections/notes-preview/", views.notes_preview, name="notes-preview"),
    path("uploads/", views.UploadsPageView.as_view(), name="uploads"),
    path("dashboard/", views.DashboardPageView.as_view(), name="dashboard"),
    path("duplicates/", views.DuplicatesPageView.as_view(), name="duplicates"),
    path("batch/", views.BatchPageView.as_view(), name="batch"),
    # Where browsers look for an icon when a page names none (the API docs, the admin,
    # JSON answers): an icon is no secret, so no login.
    path("favicon.ico", login_not_required(RedirectView.as_view(url=static("vframe/favicon.ico"), permanent=True)), name="favicon"),
    path("apple-touch-icon.png", login_not_required(RedirectView.as_view(url=static("vframe/apple-touch-icon.png"), permanent=True))),
]

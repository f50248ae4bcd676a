"""Page views. Each renders a shell; the page's script reads and writes through the
REST API with the session (one code path for the API and the pages). Only the media
page is filled in on the server, from the same selectors the API uses, because it is
a plain read that should work as a shareable link even before any script runs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import LoginView, LogoutView
from django.http import Http404, JsonResponse
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from collections_app.models import CollectionMedia
from collections_app.rendering import render_notes_html
from collections_app.selectors import collection_get, collection_list
from core.errors import NotFound
from media_app.models import MediaType
from media_app.selectors import media_get, media_siblings_window
from search_app.selectors import search_model_loaded
from tasks_app import events

from .login import LoginForm

# settings.LOGIN_URL points at the admin's login (the API docs rely on it); the pages
# have their own, so they name it here rather than changing the shared setting.
LOGIN_URL = reverse_lazy("web:login")


class SiteLoginView(LoginView):
    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("web:search")

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after:  # locked out: the form says so, and for how long
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class SiteLogoutView(LogoutView):
    next_page = reverse_lazy("web:login")

    def post(self, request, *args, **kwargs):
        user = request.user if request.user.is_authenticated else None
        response = super().post(request, *args, **kwargs)
        if user is not None:
            # Sockets opened with this session would otherwise go on streaming its events.
            events.recheck_user_sockets(user_id=user.pk, reason="logged out")
        return response


class PageView(LoginRequiredMixin, TemplateView):
    """A login-required page; ``nav`` marks the current item of the menu."""

    login_url = LOGIN_URL
    nav = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = self.nav
        context["page_config"] = {
            "api": "/api/v1/",
            "user": self.request.user.get_username(),
            "staff": bool(self.request.user.is_staff),
            "searchPageSize": settings.SEARCH_PAGE_SIZE,
            "searchMaxLimit": settings.SEARCH_MAX_LIMIT,
            "maxPageSize": settings.MAX_PAGE_SIZE,
            "maxUploadBytes": settings.MAX_UPLOAD_BYTES,
        }
        return context


class SearchPageView(PageView):
    template_name = "web/search.html"
    nav = "search"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # Known before the first search starts: it waits while the model loads.
        context["page_config"]["modelLoaded"] = search_model_loaded()
        return context


class MediaPageView(PageView):
    template_name = "web/media.html"
    nav = "search"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            media = media_get(media_id=kwargs["media_id"])
        except NotFound:
            raise Http404("No such media.")
        memberships = CollectionMedia.objects.filter(media=media).values("collection_id")
        context.update(
            media=media,
            is_frame=media.media_type == MediaType.VIDEO_FRAME,
            is_video=media.media_type == MediaType.VIDEO,
            strip=_filmstrip(media),
            timestamp_label=format_seconds(media.timestamp),
            duration_label=format_seconds(media.duration),
            collections=collection_list().filter(pk__in=memberships).order_by("title", "pk"),
        )
        return context


def format_seconds(seconds: float | None) -> str:
    """0:02.5 / 1:02:03.0: how a video player shows a position."""
    if seconds is None:
        return ""
    minutes, secs = divmod(max(0.0, float(seconds)), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


def _filmstrip(media) -> list[dict]:
    """The frames of the media's video in order; for a frame, itself included and marked,
    so the strip reads as the video does."""
    frames = media_siblings_window(media=media, limit=settings.MAX_SIBLINGS)[0]  # the nearest ones of a long video
    if media.media_type == MediaType.VIDEO_FRAME:
        frames.append(media)
        frames.sort(key=lambda m: (m.frame_number if m.frame_number is not None else -1, m.pk))
    return [
        {
            "id": frame.pk,
            "frame_number": frame.frame_number,
            "label": format_seconds(frame.timestamp) or f"#{frame.frame_number}",
            "thumbnail_url": frame.thumbnail.url if frame.thumbnail else "",
            "current": frame.pk == media.pk,
        }
        for frame in frames
    ]


class CollectionsPageView(PageView):
    template_name = "web/collections.html"
    nav = "collections"


class CollectionPageView(PageView):
    template_name = "web/collection.html"
    nav = "collections"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            collection = collection_get(collection_id=kwargs["collection_id"])
        except NotFound:
            raise Http404("No such collection.")
        # The API refuses others' changes; the page does not offer them.
        user = self.request.user
        context.update(collection=collection, can_edit=bool(user.is_staff or collection.user_id == user.pk))
        return context


class UploadsPageView(PageView):
    template_name = "web/uploads.html"
    nav = "uploads"


class DashboardPageView(PageView):
    template_name = "web/dashboard.html"
    nav = "dashboard"


class BatchPageView(PageView):
    """Batch reverse search: send many images or a ZIP, watch the run, open its report."""

    template_name = "web/batch.html"
    nav = "batch"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["page_config"].update(batchMaxBytes=settings.BATCH_MAX_BYTES, batchMaxMembers=settings.BATCH_ZIP_MAX_MEMBERS)
        return context


class DuplicatesPageView(PageView):
    """Near-duplicate groups of a feature (the page calls feature/<id>/duplicates/)."""

    template_name = "web/duplicates.html"
    nav = "dashboard"


@login_required(login_url=LOGIN_URL)
@require_POST
def notes_preview(request):
    """Markdown notes rendered exactly as the API and the export render them (sanitized),
    for the notes editor's preview before anything is saved."""
    notes = request.POST.get("notes", "")
    # Longer notes could not be saved either (notes within the size but beyond the other
    # limits are previewed as plain text with the reason, which the save then names).
    if len(notes) > settings.NOTES_MAX_CHARS:
        return JsonResponse(
            {"status": "error", "error": {"code": "too_large", "message": f"Notes are limited to {settings.NOTES_MAX_CHARS} characters."}}, status=413
        )
    return JsonResponse({"status": "ok", "res": {"html": render_notes_html(notes)}})

""" "View on site" in the admin: each record links to the page that shows it. The pages
belong to this layer, so the links are set here rather than in the apps' admins."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse


def _media(obj) -> str:
    return reverse("web:media", args=[obj.pk])


def _upload(obj) -> str:
    return reverse("web:search") + "?" + urlencode({"upload": obj.pk})


def _collection(obj) -> str:
    return reverse("web:collection", args=[obj.pk])


def _membership(obj) -> str:
    return reverse("web:collection", args=[obj.collection_id])


def _search_record(obj) -> str:
    """The search page asking the recorded search again (query, region, feature)."""
    params = {"upload": obj.query_upload_id} if obj.query_type == "upload" else {"media": obj.query_media_id}
    if obj.box:
        params["box"] = ",".join(f"{v:g}" for v in obj.box)
    params["feature"] = obj.feature_id
    return reverse("web:search") + "?" + urlencode(params)


def _feature(obj) -> str:
    return reverse("web:duplicates") + "?" + urlencode({"feature": obj.pk})


def _task_run(obj) -> str:
    return reverse("web:batch") if obj.name == "batch_search" else reverse("web:dashboard")


LINKS = {
    ("media_app", "media"): _media,
    ("media_app", "upload"): _upload,
    ("collections_app", "collection"): _collection,
    ("collections_app", "collectionmedia"): _membership,
    ("search_app", "searchrecord"): _search_record,
    ("search_app", "feature"): _feature,
    ("tasks_app", "taskrun"): _task_run,
}


def link_admin_to_pages(site: admin.AdminSite = admin.site) -> None:
    for model, model_admin in site._registry.items():
        link = LINKS.get((model._meta.app_label, model._meta.model_name))
        if link is not None:
            model_admin.view_on_site = link

"""Collections: curated sets of media with notes, the unit of export."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Collection(models.Model):
    """A curator's set of media with Markdown notes; exported as an evidence package."""

    title = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="vframe_collections")
    username = models.CharField(max_length=150, blank=True, db_index=True)
    notes = models.TextField(blank=True, help_text="Markdown")
    archived = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    media = models.ManyToManyField("media_app.Media", through="CollectionMedia", related_name="collections")

    def __str__(self) -> str:
        # "#id", not "(id)": a number in brackets reads as the item count pages show.
        return f"{self.title} #{self.pk}"


class CollectionMedia(models.Model):
    """Membership of one media in one collection, with who added it and when."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    media = models.ForeignKey("media_app.Media", on_delete=models.CASCADE, related_name="collection_items")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    added_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The search whose results showed this media when it was added, if it was added from
    # one: the export lists it so a reviewer can see how the item was found.
    search_record = models.ForeignKey("search_app.SearchRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "collection membership"
        constraints = [models.UniqueConstraint(fields=["collection", "media"], name="collection_media_unique")]

    def __str__(self) -> str:
        return f"{self.collection_id}:{self.media_id}"

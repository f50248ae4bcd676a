"""Words in and about pictures: the text OCR read on a media, and the labels a
classifier gave it.

Full-text search runs on :attr:`MediaWords.doc`, through a GIN index on PostgreSQL and
an FTS5 table on SQLite; both are created by this app's migrations for the database in
use (``text_app.fulltext``).
"""

from __future__ import annotations

from django.db import models


class MediaWords(models.Model):
    """What has been read from one media (an image or a video keyframe), one row each.

    OCR state: ``ocr_engine`` is empty until OCR has run; ``text`` is the lines read, one
    per line, and ``doc`` the search document made from them
    (:func:`text_app.query.search_document`). Label state: ``labels_model`` is empty
    until the classifier has run. A failure is kept in ``*_error`` so a resumed run
    does not retry a file that cannot be read.
    """

    media = models.OneToOneField("media_app.Media", primary_key=True, on_delete=models.CASCADE, related_name="words")
    text = models.TextField(blank=True)
    doc = models.TextField(blank=True, help_text="Search document: the tokens of text, space-separated")
    ocr_engine = models.CharField(max_length=100, blank=True, help_text="Engine and models that read the text; empty: OCR not run")
    ocr_ms = models.FloatField(null=True, blank=True)
    ocr_error = models.TextField(blank=True)
    ocr_at = models.DateTimeField(null=True, blank=True)
    labels_model = models.CharField(max_length=100, blank=True, help_text="Model zoo name of the classifier; empty: not labelled")
    labels_error = models.TextField(blank=True)
    labels_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "media words"
        indexes = [models.Index(fields=["ocr_engine"]), models.Index(fields=["labels_model"])]

    def __str__(self) -> str:
        return f"words of media {self.media_id}"


class TextLine(models.Model):
    """One line of text OCR found on a media: where (box normalised to 0..1 of the
    upright image, x1 < x2, y1 < y2; ``quad`` the four corners of a slanted line) and
    how sure the recogniser was."""

    media = models.ForeignKey("media_app.Media", on_delete=models.CASCADE, related_name="text_lines")
    n = models.PositiveIntegerField(help_text="Reading order on the media, from 0")
    text = models.TextField()
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()
    quad = models.JSONField(default=list, blank=True, help_text="[[x, y] x 4] normalised corners, clockwise from top-left")
    confidence = models.FloatField()

    class Meta:
        ordering = ["media_id", "n"]
        constraints = [models.UniqueConstraint(fields=["media", "n"], name="text_line_unique_n")]

    def __str__(self) -> str:
        return f"media {self.media_id} line {self.n}: {self.text[:40]}"

    @property
    def box(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]


class MediaLabel(models.Model):
    """One of the top-k ImageNet classes a classifier gave a media, with its softmax
    probability (``score``, 0..1)."""

    media = models.ForeignKey("media_app.Media", on_delete=models.CASCADE, related_name="labels")
    modelzoo_name = models.CharField(max_length=100)
    label_id = models.PositiveIntegerField(help_text="ImageNet-1k class index")
    score = models.FloatField()
    rank = models.PositiveSmallIntegerField(help_text="1 = the most likely class")

    class Meta:
        ordering = ["media_id", "rank"]
        indexes = [models.Index(fields=["label_id", "modelzoo_name", "-score"], name="media_label_by_score")]
        constraints = [models.UniqueConstraint(fields=["media", "modelzoo_name", "label_id"], name="media_label_unique")]

    def __str__(self) -> str:
        return f"media {self.media_id}: class {self.label_id} {self.score:.3f}"

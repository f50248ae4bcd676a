"""Celery task of the text app: OCR and labels over stored media, resumable."""

from __future__ import annotations

from celery import shared_task
from rest_framework import serializers

from tasks_app.progress import CeleryTaskReporter
from tasks_app.registry import TaskSpec, task_register


class MediaWordsParams(serializers.Serializer):
    ocr = serializers.BooleanField(default=True, help_text="Read the text on every picture not read yet (about 1 s per picture on one CPU core).")
    labels = serializers.BooleanField(default=True, help_text="Label every picture not labelled yet with its top ImageNet classes.")

    def validate(self, attrs: dict) -> dict:
        if not attrs["ocr"] and not attrs["labels"]:
            raise serializers.ValidationError("Nothing to do: ask for ocr, labels or both.")
        return attrs


@shared_task(bind=True, acks_late=True)
def media_words(self, ocr: bool = True, labels: bool = True) -> dict:
    """Read text and label every stored picture (images and video keyframes) that has
    not been, oldest first. Resumable and idempotent: a rerun, or a run after a crash or
    a cancel, does only what is still missing; a picture done twice gets the same rows."""
    from .services import media_words_run

    return media_words_run(ocr=ocr, labels=labels, reporter=CeleryTaskReporter(self)).as_dict()


def register_tasks() -> None:
    task_register(
        TaskSpec(
            name="media_words",
            task_path="text_app.tasks.media_words",
            description="Read the text (OCR) on and label (ImageNet classes) every stored image and video keyframe not done yet; resumable.",
            params=MediaWordsParams,
            staff_only=True,
        )
    )
